package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/logship/logship/event"
	"github.com/logship/logship/spooler"
)

// Publish encodes b's events and sends them to Kafka; see spooler.Publisher.
// It blocks until connected. It must be called from one goroutine at a time.
func (o *Output) Publish(ctx context.Context, b *spooler.Batch) error {
	select {
	case <-o.ready:
	case <-o.stop:
		return errors.New("output closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select { // a batch slot: at most max_in_flight batches unacknowledged
	case o.slots <- struct{}{}:
	case <-o.stop:
		return errors.New("output closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	o.batches.Add(1) // until done
	n := len(b.Events)
	st := statePool.Get().(*batchState)
	st.batch = b
	st.left.Store(int64(n))
	st.partition.Store(-1)
	if cap(st.msgs) < n {
		st.msgs = make([]sarama.ProducerMessage, n)
		st.metas = make([]msgMeta, n)
	}
	st.msgs, st.metas = st.msgs[:n], st.metas[:n]
	size := 0
	if !o.enc.raw {
		for i := range b.Events {
			size += len(b.Events[i].Line)
		}
		size += n * (256 + len(o.enc.srcTail))
	}
	hpm := o.router.headerCount()
	if hpm > 0 {
		size += n * 24 // header values
		if cap(st.headers) < n*hpm {
			st.headers = make([]sarama.RecordHeader, 0, n*hpm)
		}
	}
	if cap(st.buf) < size {
		st.buf = make([]byte, 0, size)
	}
	buf, hs := st.buf[:0], st.headers[:0]
	maxValue := o.cfg.MaxMessageBytes - recordOverhead
	simple := o.router.simple()
	var rejected []rejection // in event order
	for i := range b.Events {
		e := &b.Events[i]
		st.metas[i] = msgMeta{batch: st, event: e, partition: -1}
		m := &st.msgs[i]
		var value []byte
		asIs := o.enc.raw && e.Doc == nil && len(e.Line) <= maxValue
		if asIs {
			// The line as it is, where the harvester put it: it stays
			// there until the batch is acknowledged.
			value = e.Line
		} else {
			start := len(buf)
			buf = o.enc.appendValue(buf, e)
			if len(buf)-start > maxValue && e.Doc == nil && (e.Truncated || len(e.Line) <= maxValue) {
				buf = o.fit(buf, start, e, maxValue)
			}
			value = buf[start:len(buf):len(buf)]
		}
		// Partition -1 until sarama partitions it: a failure then tells
		// whether it had one.
		*m = sarama.ProducerMessage{Topic: o.cfg.Topic, Partition: -1, Value: sarama.ByteEncoder(value), Metadata: &st.metas[i]}
		if len(value) > maxValue {
			buf = buf[:len(buf)-len(value)]
			rejected = append(rejected, rejection{st, e, ReasonTooLarge, fmt.Errorf("event of %d bytes is over max_message_bytes (%d)", len(e.Line), o.cfg.MaxMessageBytes)})
			continue
		}
		if !simple {
			if err := o.router.route(m, e); err != nil {
				rejected = append(rejected, rejection{st, e, ReasonRouting, err})
				continue
			}
		}
		if hpm > 0 {
			h0 := len(hs)
			hs, buf = o.router.appendHeaders(hs, buf, e)
			m.Headers = hs[h0:len(hs):len(hs)]
		}
	}
	st.buf, st.headers = buf, hs
	if o.inflight.Add(int64(n)) == int64(n) {
		o.busySince.Store(time.Now().UnixNano())
	}
	if o.cfg.ExactlyOnce() {
		// Into a transaction (txnLoop); its rejections are settled
		// there, before the commit that moves their offsets.
		for _, r := range rejected {
			st.metas[indexOf(b, r.e)].rej = &r
		}
		select {
		case o.txnQ <- st:
			o.published.Add(int64(n - len(rejected)))
			return nil
		case <-o.stop:
			return errors.New("output closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if n == 0 {
		// Only positions past skipped lines: nothing to send, and they
		// commit in order behind the batches before (the acker's).
		st.left.Store(1)
		o.done(st)
		return nil
	}
	next := 0
	for i := range st.msgs {
		if next < len(rejected) && rejected[next].e == &b.Events[i] {
			r := rejected[next]
			next++
			o.reject(r.st, r.e, r.reason, r.err)
			continue
		}
		if !o.send(ctx, &st.msgs[i]) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errors.New("output closed")
		}
		o.published.Add(1)
	}
	return nil
}

// fit cuts the line of an event whose value (from start in buf) is over
// maxValue, when its line is not or was cut at max_bytes already, so that
// it is shipped cut and flagged truncated rather than rejected: a line
// within max_bytes (at most max_message_bytes) can still grow past
// max_message_bytes when encoded (escapes, invalid UTF-8 made U+FFFD, the
// event's fields). Any other event too large follows on_permanent_error.
func (o *Output) fit(buf []byte, start int, e *event.Event, maxValue int) []byte {
	for range 8 { // cut in proportion to how the line grew: rarely a second pass
		size := len(buf) - start
		if size <= maxValue {
			break
		}
		// As much as fits if the rest of the event is what grew, or
		// the line's share if the line did; the next pass tells.
		keep := max(len(e.Line)-(size-maxValue), len(e.Line)*maxValue/size-8)
		for keep > 0 && !utf8.RuneStart(e.Line[keep]) {
			keep--
		}
		if keep <= 0 {
			break // the line is not what is too large
		}
		e.Line, e.Truncated = e.Line[:keep], true
		buf = o.enc.appendValue(buf[:start], e)
	}
	return buf
}

// indexOf is e's index in b.Events.
func indexOf(b *spooler.Batch, e *event.Event) int {
	for i := range b.Events {
		if &b.Events[i] == e {
			return i
		}
	}
	return -1
}
