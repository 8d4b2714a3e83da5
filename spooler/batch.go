package spooler

import (
	"sync/atomic"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// Advance is a file position a batch carries: once the batch and every batch
// before it are acknowledged, Source is delivered up to Position.Offset.
type Advance struct {
	Source   *event.Source
	Position fileid.Position
}

// Batch is a run of events handed to the output in one Publish, together with
// the offsets it advances.
type Batch struct {
	// Events are the batch's events in file order. The output must not keep
	// references to them after acknowledging them.
	Events []event.Event
	// Advances holds, per file in the batch, the end of its last line.
	Advances []Advance

	skips   []skipMark
	bytes   int
	cut     time.Time // when the batch was handed to the output
	pending atomic.Int64
	acked   bool // guarded by the acker's mutex
	acker   *acker
}

// Ack records that n of the batch's events were delivered. Once all are, the
// batch's capacity is released and its offsets are committed in order. Ack is
// safe for concurrent use; acknowledging more events than the batch holds
// panics, as it is a bug in the output.
func (b *Batch) Ack(n int) {
	switch left := b.pending.Add(-int64(n)); {
	case left == 0:
		b.acker.done(b)
	case left < 0:
		panic("spooler: batch acknowledged more than once")
	}
}

// skipMark is a skip event's position, placed before Events[at].
type skipMark struct {
	at  int
	src *event.Source
	pos fileid.Position
}

// advances computes the position after the last event (or skipped line) of
// each file in events.
func advances(events []event.Event, skips []skipMark) []Advance {
	var out []Advance
	last := make([]int, 0, 4) // order of each file's last event: 2i+1 for events[i], 2at for a skip
	var src *event.Source
	idx := -1
	find := func(s *event.Source) int {
		for j := range out {
			if out[j].Source == s {
				return j
			}
		}
		out = append(out, Advance{Source: s})
		last = append(last, -1)
		return len(out) - 1
	}
	for i := range events {
		if e := &events[i]; e.Source != src {
			src, idx = e.Source, find(e.Source)
		}
		last[idx] = 2*i + 1
	}
	for j := range out {
		out[j].Position = event.PositionAfter(&events[last[j]/2])
	}
	for _, m := range skips {
		j := find(m.src)
		if 2*m.at > last[j] {
			last[j], out[j].Position = 2*m.at, m.pos
		}
	}
	return out
}
