package spooler

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// Committer receives delivered positions; the registry implements it.
type Committer interface {
	Commit(src *event.Source, pos fileid.Position)
}

// acker commits batches' offsets in the order the batches were cut.
type acker struct {
	commit  Committer
	release func(events, bytes int)
	recycle func([]event.Event) // takes a done batch's events slice for a later batch

	mu       sync.Mutex
	inflight []*Batch // cut order; the head is the oldest not yet committed

	ackedEvents atomic.Int64
	ackedBytes  atomic.Int64
	unacked     atomic.Int64 // batches added and not yet done
}

// add registers a batch before it is published.
func (a *acker) add(b *Batch) {
	b.acker = a
	b.pending.Store(int64(len(b.Events)))
	a.unacked.Add(1)
	a.mu.Lock()
	a.inflight = append(a.inflight, b)
	a.mu.Unlock()
}

// done is called once every event of b is acknowledged.
func (a *acker) done(b *Batch) {
	events, bytes := len(b.Events), b.bytes
	a.ackedEvents.Add(int64(events))
	a.ackedBytes.Add(int64(bytes))
	a.recycle(b.Events)
	a.mu.Lock()
	b.acked = true
	b.Events = nil // the lines' memory is free now; only the advances wait
	n := 0
	for n < len(a.inflight) && a.inflight[n].acked {
		for _, adv := range a.inflight[n].Advances {
			a.commit.Commit(adv.Source, adv.Position)
		}
		a.inflight[n] = nil
		n++
	}
	a.inflight = a.inflight[n:]
	a.mu.Unlock()
	a.unacked.Add(-1)
	a.release(events, bytes)
}

// pending is the number of batches published but not yet committed, and
// when the oldest of them not yet acknowledged was published.
func (a *acker) pending() (int, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.inflight {
		if !b.acked {
			return len(a.inflight), b.cut
		}
	}
	return len(a.inflight), time.Time{}
}
