package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/logship/logship/event"
)

// Reasons an event is rejected for good.
const (
	ReasonTooLarge      = "message_too_large"
	ReasonInvalidRecord = "invalid_record"
	ReasonInvalidTopic  = "invalid_topic"
)

// Reasons are every reason an event can be rejected for good: the metrics
// by reason exist at 0 from the start.
var Reasons = []string{ReasonTooLarge, ReasonInvalidRecord, ReasonInvalidTopic, ReasonRouting}

// permanentReason says why err means Kafka will never take the message, or
// "" when trying again may succeed. TopicAuthorizationFailed is not a
// property of the event but an operator's error that one ACL fixes: it is
// retried loudly (see notAuthorized), never dead-lettered.
func permanentReason(err error) string {
	var cerr sarama.ConfigurationError
	switch {
	case errors.Is(err, sarama.ErrMessageSizeTooLarge), errors.Is(err, sarama.ErrMessageSetSizeTooLarge),
		errors.As(err, &cerr) && strings.Contains(string(cerr), "larger than"):
		return ReasonTooLarge
	case errors.Is(err, sarama.ErrInvalidMessage), errors.Is(err, sarama.ErrInvalidRecord),
		errors.Is(err, sarama.ErrInvalidTimestamp), errors.Is(err, sarama.ErrUnsupportedForMessageFormat):
		return ReasonInvalidRecord
	case errors.Is(err, sarama.ErrInvalidTopic):
		return ReasonInvalidTopic
	}
	return ""
}

// deadLetter appends rejected events to a file of JSON lines, keeping it
// under maxSize by moving a full file to path.1 (replacing the previous one).
type deadLetter struct {
	path    string
	maxSize int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

type deadRecord struct {
	Timestamp time.Time `json:"@timestamp"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	Topic     string    `json:"topic"`
	Log       struct {
		Offset int64 `json:"offset"`
		File   struct {
			Path string `json:"path"`
		} `json:"file"`
	} `json:"log"`
	Message string `json:"message"`
}

func (d *deadLetter) write(e *event.Event, topic, reason string, cause error) error {
	rec := deadRecord{Timestamp: time.Now().UTC(), Reason: reason, Error: cause.Error(), Topic: topic, Message: string(e.Line)}
	rec.Log.Offset, rec.Log.File.Path = e.Offset, e.Source.Path
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil && d.size+int64(len(line)) > d.maxSize {
		err := d.f.Close()
		d.f = nil
		if err != nil {
			return fmt.Errorf("close dead letter file: %w", err)
		}
		if err := os.Rename(d.path, d.path+".1"); err != nil {
			return fmt.Errorf("rotate dead letter file: %w", err)
		}
	}
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
			return fmt.Errorf("dead letter directory: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return fmt.Errorf("open dead letter file: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		d.f, d.size = f, fi.Size()
	}
	n, err := d.f.Write(line)
	d.size += int64(n)
	if err != nil {
		return err
	}
	// On disk before the event's offset may move past it.
	return d.f.Sync()
}

func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

// rejection is an event Kafka will never take, waiting for rejectLoop.
type rejection struct {
	st     *batchState
	e      *event.Event
	reason string
	err    error
}

// reject queues an event Kafka will never take for rejectLoop. It never
// blocks.
func (o *Output) reject(st *batchState, e *event.Event, reason string, cause error) {
	o.rejectMu.Lock()
	o.rejectQ = append(o.rejectQ, rejection{st, e, reason, cause})
	o.rejectMu.Unlock()
	select {
	case o.rejectAdd <- struct{}{}:
	default:
	}
}

// rejectLoop settles rejected events until Close: each is dropped or
// written to the dead letter file (durably, before its offset may move),
// counted and logged. An event whose dead letter cannot be written is kept
// and tried again after retry.backoff, doubling to retry.max_backoff: it
// holds its batch, and so its file's offset, until it is on disk. Events
// still queued at Close stay unacknowledged.
func (o *Output) rejectLoop() {
	var failed []rejection
	failures := 0
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-o.rejectAdd:
		case <-retry.C:
		}
		o.rejectMu.Lock()
		q := append(failed, o.rejectQ...)
		o.rejectQ = nil
		o.rejectMu.Unlock()
		failed = nil
		for _, r := range q {
			if err := o.settle(&r); err != nil {
				failed = append(failed, r)
				continue
			}
			o.done(r.st)
		}
		retry.Stop()
		if len(failed) == 0 {
			failures = 0
			continue
		}
		failures++
		retry.Reset(o.retryBackoff(failures))
	}
}

// notAuthorized reports, loudly, a delivery the broker refused because this
// agent may not write to the topic: a WARN (every failEvery), kafka_connected
// 0 (so /readyz fails), and the failure counted with the others; the events
// wait and are retried until the ACL is fixed.
func (o *Output) notAuthorized(topic string, err error) bool {
	if !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		return false
	}
	o.authLog.Log(o.log, slog.LevelWarn, "kafka refuses this agent writes to the topic (TopicAuthorizationFailed): grant it Write on the topic; its events wait and are retried",
		"topic", topic, "err", err)
	o.setReachable(false, "kafka refuses writes: not authorized for the topic", "topic", topic)
	return true
}
