package agent

import (
	"runtime"
	"time"

	"github.com/logship/logship/monitor"
)

// progress makes the periodic progress line: the counters that moved since
// the last line, the levels that are not zero, and always the open files,
// whether Kafka answers, and the goroutines.
type progress struct {
	last monitor.Snapshot
	peak func() int
}

func (p *progress) attrs(s monitor.Snapshot) []any {
	var a []any
	delta := func(name string, now, before int64) {
		if d := now - before; d != 0 {
			a = append(a, name, d)
		}
	}
	level := func(name string, v int64) {
		if v != 0 {
			a = append(a, name, v)
		}
	}
	var lines, bytes, trunc, abandoned, pl, pb, pt, pa int64
	for _, in := range s.Inputs {
		lines, bytes, trunc, abandoned = lines+in.LinesRead, bytes+in.BytesRead, trunc+in.LinesTruncated, abandoned+in.BytesAbandoned
	}
	for _, in := range p.last.Inputs {
		pl, pb, pt, pa = pl+in.LinesRead, pb+in.BytesRead, pt+in.LinesTruncated, pa+in.BytesAbandoned
	}
	delta("lines_read", lines, pl)
	delta("bytes_read", bytes, pb)
	delta("lines_truncated", trunc, pt)
	delta("lines_abandoned_bytes", abandoned, pa)
	delta("events_published", s.EventsPublished, p.last.EventsPublished)
	delta("events_acked", s.EventsAcked, p.last.EventsAcked)
	delta("bytes_acked", s.BytesAcked, p.last.BytesAcked)
	delta("events_failed", s.EventsFailed, p.last.EventsFailed)
	delta("retries", s.EventsRetried, p.last.EventsRetried)
	delta("events_dropped", total(s.EventsDropped), total(p.last.EventsDropped))
	delta("events_dead_lettered", total(s.DeadLettered), total(p.last.DeadLettered))
	level("events_queued", int64(s.QueueEvents))
	level("events_inflight", s.EventsInflight)
	level("batches_inflight", int64(s.BatchesInflight))
	if !s.OldestUnacked.IsZero() {
		a = append(a, "oldest_unacked_age", time.Since(s.OldestUnacked).Round(time.Millisecond))
	}
	if !s.LastDelivery.IsZero() {
		a = append(a, "last_delivery", s.LastDelivery.Format(time.RFC3339))
	}
	peak := 0
	if p.peak != nil {
		peak = p.peak()
	}
	a = append(a, "open_files", s.OpenFiles, "open_files_peak", peak, "kafka_connected", s.KafkaConnected, "goroutines", runtime.NumGoroutine())
	p.last = s
	return a
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
