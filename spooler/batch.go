package spooler

import (
	"sync/atomic"
	"time"

	"github.com/logship/logship/event"
)

// Advance is a file position a batch carries: once the batch and every batch
// before it are acknowledged, Source is delivered up to Position.Offset.
type Advance struct {
	Source   *event.Source
	Position event.Position
}

// Batch is a run of events handed to the output in one Publish, together with
// the offsets it advances.
type Batch struct {
	// Events are the batch's events in file order. The output must not keep
	// references to them after acknowledging them.
	Events []event.Event
	// Advances holds, per file in the batch, the end of its last line.
	Advances []Advance

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

// advances computes the position after the last line of each file in events.
func advances(events []event.Event) []Advance {
	var out []Advance
	last := make([]int, 0, 4) // index in events of each file's last line
	var src *event.Source
	idx := -1
	for i := range events {
		e := &events[i]
		if e.Source != src {
			src, idx = e.Source, -1
			for j := range out {
				if out[j].Source == src {
					idx = j
					break
				}
			}
			if idx < 0 {
				out = append(out, Advance{Source: src})
				last = append(last, 0)
				idx = len(out) - 1
			}
		}
		last[idx] = i
	}
	for j := range out {
		out[j].Position = event.PositionAfter(&events[last[j]])
	}
	return out
}
