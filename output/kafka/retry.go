package kafka

import (
	"context"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/logship/logship/internal/backoff"
)

// failed queues a message for re-sending. It never blocks: blocking here
// would stop sarama's result channels and so its input.
func (o *Output) failed(pe *sarama.ProducerError) {
	meta := pe.Msg.Metadata.(*msgMeta)
	if reason := permanentReason(pe.Err); reason != "" {
		o.reject(meta.batch, meta.event, reason, pe.Err)
		return
	}
	if pe.Msg.Partition >= 0 { // sarama had partitioned it: it goes there again
		meta.partition = pe.Msg.Partition
	}
	o.failures.Add(1)
	if !o.notAuthorized(pe.Msg.Topic, pe.Err) {
		o.failLog.Log(o.log, slog.LevelWarn, "kafka delivery failed, retrying", "topic", pe.Msg.Topic, "err", pe.Err)
	}
	if unreachable(pe.Err) {
		o.setReachable(false, "kafka unreachable: deliveries fail", "err", pe.Err)
	}
	o.retryMu.Lock()
	o.retryQ = append(o.retryQ, pe.Msg)
	o.retryMu.Unlock()
	select {
	case o.retryAdd <- struct{}{}:
	default:
	}
}

// retryLoop re-sends failed messages after their backoff, until Close.
func (o *Output) retryLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	type due struct {
		at  time.Time
		msg *sarama.ProducerMessage
	}
	var waiting []due
	for {
		o.retryMu.Lock()
		for _, m := range o.retryQ {
			meta := m.Metadata.(*msgMeta)
			meta.attempts++
			waiting = append(waiting, due{time.Now().Add(o.retryBackoff(meta.attempts)), m})
		}
		clear(o.retryQ)
		o.retryQ = o.retryQ[:0]
		o.retryMu.Unlock()

		now, next := time.Now(), time.Time{}
		kept := waiting[:0]
		for _, d := range waiting {
			if d.at.After(now) {
				kept = append(kept, d)
				if next.IsZero() || d.at.Before(next) {
					next = d.at
				}
				continue
			}
			o.retries.Add(1)
			if !o.send(context.Background(), d.msg) {
				return // closed: the message stays unacknowledged
			}
		}
		waiting = kept
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-o.stop:
			return
		case <-o.retryAdd:
		case <-timer.C:
		}
	}
}

// retryBackoff is retry.backoff doubling per attempt, at most retry.max_backoff.
func (o *Output) retryBackoff(attempts int) time.Duration {
	return backoff.Delay(o.cfg.Retry.Backoff.D(), o.cfg.Retry.MaxBackoff.D(), attempts)
}

// send puts m on the producer's input unless the output is closing. It
// reports false when m was not sent.
func (o *Output) send(ctx context.Context, m *sarama.ProducerMessage) bool {
	o.sendMu.RLock()
	defer o.sendMu.RUnlock()
	if o.closed {
		return false
	}
	select { // the common case, without the cost of a three-way select
	case o.producer.Input() <- m:
		return true
	default:
	}
	select {
	case o.producer.Input() <- m:
		return true
	case <-o.stop:
		return false
	case <-ctx.Done():
		return false
	}
}
