// Package monitor shows what the agent does: Prometheus metrics, health
// and readiness, a JSON view of the counters, and the progress line. It
// reads the pipeline's own counters when asked (nothing is added to the hot
// path) and keeps counters monotonic across reloads, which replace the
// pipeline and so restart its counters.
//
//	agent ─Snapshot()─▶ monitor ─▶ /metrics /stats /healthz /readyz, progress line
package monitor

import (
	"maps"
	"time"
)

// Snapshot is the pipeline's state at one moment. Counters (…Total
// fields, maps of them) count since the pipeline started; the rest are
// levels.
type Snapshot struct {
	Inputs []Input `json:"inputs"`

	EventsPublished int64            `json:"events_published_total"`
	EventsAcked     int64            `json:"events_acked_total"`
	BytesAcked      int64            `json:"bytes_acked_total"`
	EventsFailed    int64            `json:"events_failed_total"`
	EventsRetried   int64            `json:"events_retried_total"`
	EventsDropped   map[string]int64 `json:"events_dropped_total"`
	DeadLettered    map[string]int64 `json:"events_dead_lettered_total"`
	// Transactions (delivery: exactly_once).
	TxnCommitted int64 `json:"transactions_committed_total"`
	TxnAborted   int64 `json:"transactions_aborted_total"`

	QueueEvents     int    `json:"queue_events"`
	QueueBytes      int    `json:"queue_bytes"`
	QueueMaxEvents  int    `json:"queue_max_events"`
	QueueMaxBytes   int    `json:"queue_max_bytes"`
	BatchesInflight int    `json:"batches_inflight"`
	EventsInflight  int64  `json:"events_inflight"`
	OpenFiles       int    `json:"open_files"`
	Files           []File `json:"files_behind,omitempty"`
	// OldestUnacked and LastDelivery are times (zero: none); the metrics,
	// /stats and the progress line show them as
	// oldest_unacked_age_seconds and last_delivery_timestamp_seconds.
	OldestUnacked  time.Time `json:"-"`
	LastDelivery   time.Time `json:"-"`
	KafkaConnected bool      `json:"kafka_connected"`
	// Fenced: another producer took over the transactional id.
	Fenced bool `json:"transactions_fenced"`
}

// Input is one input's counters.
type Input struct {
	ID             string `json:"id"`
	LinesRead      int64  `json:"input_lines_read_total"`
	BytesRead      int64  `json:"input_bytes_read_total"`
	LinesTruncated int64  `json:"input_lines_truncated_total"`
	BytesAbandoned int64  `json:"input_abandoned_bytes_total"`
	// HarvesterPanics counts harvesters that panicked (their files are retried).
	HarvesterPanics int64 `json:"harvester_panics_total"`
	LagBytes        int64 `json:"input_lag_bytes"`
}

// File is an open file's lag: bytes written and not yet delivered.
type File struct {
	Input    string `json:"input"`
	Path     string `json:"path"`
	LagBytes int64  `json:"file_lag_bytes"`
}

// add returns the counters of s and t summed (levels are t's): the totals
// of a pipeline that replaced another.
func add(s, t Snapshot) Snapshot {
	out := t
	out.Inputs = nil
	byID := map[string]int{}
	for _, in := range t.Inputs {
		byID[in.ID] = len(out.Inputs)
		out.Inputs = append(out.Inputs, in)
	}
	for _, in := range s.Inputs {
		if i, ok := byID[in.ID]; ok {
			o := &out.Inputs[i]
			o.LinesRead += in.LinesRead
			o.BytesRead += in.BytesRead
			o.LinesTruncated += in.LinesTruncated
			o.BytesAbandoned += in.BytesAbandoned
			o.HarvesterPanics += in.HarvesterPanics
			continue
		}
		// A removed input keeps its totals (its lag is gone).
		in.LagBytes = 0
		out.Inputs = append(out.Inputs, in)
	}
	out.EventsPublished += s.EventsPublished
	out.EventsAcked += s.EventsAcked
	out.BytesAcked += s.BytesAcked
	out.EventsFailed += s.EventsFailed
	out.EventsRetried += s.EventsRetried
	out.TxnCommitted += s.TxnCommitted
	out.TxnAborted += s.TxnAborted
	out.EventsDropped = sum(s.EventsDropped, t.EventsDropped)
	out.DeadLettered = sum(s.DeadLettered, t.DeadLettered)
	if t.LastDelivery.IsZero() {
		out.LastDelivery = s.LastDelivery
	}
	return out
}

func sum(a, b map[string]int64) map[string]int64 {
	out := maps.Clone(b)
	if out == nil {
		out = map[string]int64{}
	}
	for k, v := range a {
		out[k] += v
	}
	return out
}

// countersOnly keeps a snapshot's counters and drops its levels: what a
// finished pipeline leaves to the totals.
func countersOnly(s Snapshot) Snapshot {
	c := Snapshot{
		EventsPublished: s.EventsPublished, EventsAcked: s.EventsAcked, BytesAcked: s.BytesAcked,
		EventsFailed: s.EventsFailed, EventsRetried: s.EventsRetried, TxnCommitted: s.TxnCommitted, TxnAborted: s.TxnAborted,
		EventsDropped: maps.Clone(s.EventsDropped), DeadLettered: maps.Clone(s.DeadLettered),
		LastDelivery: s.LastDelivery,
	}
	for _, in := range s.Inputs {
		in.LagBytes = 0
		c.Inputs = append(c.Inputs, in)
	}
	return c
}
