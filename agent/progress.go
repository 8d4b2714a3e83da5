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
	var lines, bytes, trunc, abandoned, panics, pl, pb, pt, pa, pp int64
	for _, in := range s.Inputs {
		lines, bytes, trunc, abandoned, panics = lines+in.LinesRead, bytes+in.BytesRead, trunc+in.LinesTruncated, abandoned+in.BytesAbandoned, panics+in.HarvesterPanics
	}
	for _, in := range p.last.Inputs {
		pl, pb, pt, pa, pp = pl+in.LinesRead, pb+in.BytesRead, pt+in.LinesTruncated, pa+in.BytesAbandoned, pp+in.HarvesterPanics
	}
	// The names are the metrics' (logship_NAME_total for a counter,
	// logship_NAME for a level) and /stats' keys: one name for each.
	delta("input_lines_read", lines, pl)
	delta("input_bytes_read", bytes, pb)
	delta("input_lines_truncated", trunc, pt)
	delta("input_abandoned_bytes", abandoned, pa)
	delta("harvester_panics", panics, pp)
	delta("events_published", s.EventsPublished, p.last.EventsPublished)
	delta("events_acked", s.EventsAcked, p.last.EventsAcked)
	delta("bytes_acked", s.BytesAcked, p.last.BytesAcked)
	delta("events_failed", s.EventsFailed, p.last.EventsFailed)
	delta("events_retried", s.EventsRetried, p.last.EventsRetried)
	delta("events_dropped", total(s.EventsDropped), total(p.last.EventsDropped))
	delta("events_dead_lettered", total(s.DeadLettered), total(p.last.DeadLettered))
	level("queue_events", int64(s.QueueEvents))
	level("events_inflight", s.EventsInflight)
	level("batches_inflight", int64(s.BatchesInflight))
	if !s.OldestUnacked.IsZero() {
		a = append(a, "oldest_unacked_age_seconds", time.Since(s.OldestUnacked).Round(time.Millisecond).Seconds())
	}
	if !s.LastDelivery.IsZero() {
		// As a time: readable in a log line, where the metric's Unix
		// seconds would not be.
		a = append(a, "last_delivery_timestamp", s.LastDelivery.Format(time.RFC3339))
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
