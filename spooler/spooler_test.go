package spooler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// publisher records batches; tests acknowledge them by hand.
type publisher struct {
	mu      sync.Mutex
	batches []*Batch
}

func (p *publisher) Publish(ctx context.Context, b *Batch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, b)
	return nil
}

func (p *publisher) get(i int) *Batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.batches[i]
}

func (p *publisher) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.batches)
}

// committed records the registry's view.
type committed struct {
	mu  sync.Mutex
	off map[string]int64
	log []string
}

func (c *committed) Commit(src *event.Source, pos fileid.Position) {
	offset := pos.Offset
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off == nil {
		c.off = map[string]int64{}
	}
	c.off[src.ID] = offset
	c.log = append(c.log, fmt.Sprintf("%s@%d", src.ID, offset))
}

func (c *committed) get(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off[id]
}

// chunk makes n 10-byte lines of src starting at offset off.
func chunk(src *event.Source, off int64, n int) *event.Chunk {
	c := &event.Chunk{}
	for range n {
		c.Events = append(c.Events, event.Event{Source: src, Line: []byte("0123456789"), Offset: off, End: off + 11})
		off += 11
		c.Bytes += 10
	}
	return c
}

func TestAdvances(t *testing.T) {
	a, b := &event.Source{ID: "a"}, &event.Source{ID: "b"}
	ev := []event.Event{{Source: a, End: 5}, {Source: b, End: 3}, {Source: a, End: 9, Line: []byte("x")}, {Source: b, End: 1, Truncated: true}} // b truncated: last wins
	got := advances(ev, nil)
	if len(got) != 2 || got[0].Source != a || got[0].Position != event.PositionAfter(&ev[2]) || got[1].Position != (fileid.Position{Offset: 1, TailLen: -1}) {
		t.Fatalf("advances = %+v", got)
	}
	// Skipped lines after a file's last event move it on; before, they do not.
	c := &event.Source{ID: "c"}
	skips := []skipMark{{at: 1, src: b, pos: fileid.Position{Offset: 4}}, {at: 4, src: a, pos: fileid.Position{Offset: 20}}, {at: 2, src: c, pos: fileid.Position{Offset: 7}}}
	got = advances(ev, skips)
	want := []fileid.Position{{Offset: 20}, {Offset: 1, TailLen: -1}, {Offset: 7}}
	if len(got) != 3 {
		t.Fatalf("advances = %+v", got)
	}
	for i := range want {
		if got[i].Position != want[i] {
			t.Errorf("advance %d (%s) = %+v, want %+v", i, got[i].Source.ID, got[i].Position, want[i])
		}
	}
}

// A chunk of skipped lines only is published as a batch without events
// (the output commits its positions: with exactly_once, in a transaction),
// takes no room in the queue, and commits in order behind the batch before
// it, once the output acknowledges it.
func TestSkipOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub, reg := &publisher{}, &committed{}
		s := New(Config{MaxEvents: 100, MaxBytes: 1 << 20, BatchEvents: 2, FlushInterval: time.Second}, pub, reg)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		a := &event.Source{ID: "a"}
		s.In() <- chunk(a, 0, 2) // batch 0, published, not yet acknowledged
		skip := &event.Chunk{Events: []event.Event{{Source: a, Skip: true, Offset: 22, End: 99, Flags: event.FlagCommit, Commit: fileid.Position{Offset: 99, TailLen: -1}}}}
		s.In() <- skip
		synctest.Wait()
		time.Sleep(time.Second) // the flush interval cuts the skip-only batch
		synctest.Wait()
		if pub.len() != 2 || len(pub.get(1).Events) != 0 || len(pub.get(1).Advances) != 1 || pub.get(1).Advances[0].Position.Offset != 99 {
			t.Fatalf("%d batches published; want the skip-only one second, without events, advancing a to 99", pub.len())
		}
		if st := s.Stats(); st.QueuedEvents != 2 {
			t.Fatalf("queued %d events, want 2 (skips take no room)", st.QueuedEvents)
		}
		pub.get(1).Ack(0)
		synctest.Wait()
		if got := reg.get("a"); got != 0 {
			t.Fatalf("a committed at %d before batch 0 was acknowledged", got)
		}
		pub.get(0).Ack(2)
		synctest.Wait()
		if got := reg.get("a"); got != 99 {
			t.Fatalf("a committed at %d, want 99", got)
		}
	})
}

// Acks arrive out of order; offsets advance only over the acknowledged prefix.
func TestOutOfOrderAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub, reg := &publisher{}, &committed{}
		s := New(Config{MaxEvents: 100, MaxBytes: 1 << 20, BatchEvents: 2, FlushInterval: time.Second}, pub, reg)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		a, b := &event.Source{ID: "a"}, &event.Source{ID: "b"}
		s.In() <- chunk(a, 0, 2)  // batch 0: a[0,22)
		s.In() <- chunk(b, 0, 2)  // batch 1: b[0,22)
		s.In() <- chunk(a, 22, 2) // batch 2: a[22,44)
		synctest.Wait()
		if pub.len() != 3 {
			t.Fatalf("%d batches, want 3", pub.len())
		}
		if st := s.Stats(); st.OldestUnacked.IsZero() || st.InflightBatches != 3 {
			t.Fatalf("stats while waiting: %+v", st)
		}
		pub.get(2).Ack(2)
		pub.get(1).Ack(1) // half of batch 1
		if reg.get("a") != 0 || reg.get("b") != 0 {
			t.Fatalf("committed ahead of the acknowledged prefix: %v", reg.log)
		}
		pub.get(0).Ack(2)
		if reg.get("a") != 22 || reg.get("b") != 0 {
			t.Fatalf("after batch 0: %v", reg.log)
		}
		pub.get(1).Ack(1)
		if reg.get("a") != 44 || reg.get("b") != 22 {
			t.Fatalf("after all: %v", reg.log)
		}
		st := s.Stats()
		if st.AckedEvents != 6 || st.AckedBytes != 60 || st.InflightBatches != 0 || st.QueuedEvents != 0 || !st.OldestUnacked.IsZero() {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A full spooler blocks the harvesters; acknowledgements unblock them.
func TestBoundedBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub, reg := &publisher{}, &committed{}
		s := New(Config{MaxEvents: 10, MaxBytes: 1 << 20, BatchEvents: 5, FlushInterval: time.Second}, pub, reg)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		src := &event.Source{ID: "a"}
		var sent sync.WaitGroup
		sentN := 0
		sent.Go(func() {
			for i := range 10 {
				select {
				case s.In() <- chunk(src, int64(i*55), 5):
					sentN++
				case <-ctx.Done():
					return
				}
			}
		})
		synctest.Wait() // the sender is now blocked
		if st := s.Stats(); st.QueuedEvents != 10 || sentN != 2 {
			t.Fatalf("queued %d events after %d chunks; want 10 after 2", st.QueuedEvents, sentN)
		}
		for i := 0; i < 10; i++ {
			synctest.Wait()
			if pub.len() <= i {
				t.Fatalf("batch %d never published", i)
			}
			if q := s.Stats().QueuedEvents; q > 10 {
				t.Fatalf("queue grew to %d events, bound 10", q)
			}
			pub.get(i).Ack(5)
		}
		sent.Wait()
		if reg.get("a") != 550 {
			t.Fatalf("committed %d, want 550", reg.get("a"))
		}
	})
}

// An idle pipeline publishes a chunk at once; while a batch waits for
// Kafka the next one fills, and goes out when that batch is acknowledged
// or after FlushInterval, whichever comes first.
func TestPublishWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &publisher{}
		s := New(Config{MaxEvents: 100, MaxBytes: 1 << 20, BatchEvents: 50, FlushInterval: 250 * time.Millisecond}, pub, &committed{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		start := time.Now()
		src := &event.Source{ID: "a"}
		s.In() <- chunk(src, 0, 3)
		synctest.Wait()
		if pub.len() != 1 || time.Since(start) != 0 {
			t.Fatalf("idle: %d batches after %v, want 1 at once", pub.len(), time.Since(start))
		}
		s.In() <- chunk(src, 33, 2)
		synctest.Wait()
		if pub.len() != 1 {
			t.Fatal("published while the last batch waits for Kafka")
		}
		pub.get(0).Ack(3)
		synctest.Wait()
		if pub.len() != 2 || len(pub.get(1).Events) != 2 || time.Since(start) != 0 {
			t.Fatalf("after the acknowledgement: %d batches after %v", pub.len(), time.Since(start))
		}
		s.In() <- chunk(src, 55, 4)
		time.Sleep(249 * time.Millisecond)
		synctest.Wait()
		if pub.len() != 2 {
			t.Fatal("published before the interval while a batch waits")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if pub.len() != 3 || len(pub.get(2).Events) != 4 {
			t.Fatalf("not published after the interval: %d batches", pub.len())
		}
	})
}

// Closing In publishes the open batch and ends Run cleanly.
func TestCloseDrains(t *testing.T) {
	pub := &publisher{}
	s := New(Config{MaxEvents: 100, MaxBytes: 1 << 20, BatchEvents: 50, FlushInterval: time.Hour}, pub, &committed{})
	done := make(chan error, 1)
	go func() { done <- s.Run(t.Context()) }()
	s.In() <- chunk(&event.Source{ID: "a"}, 0, 7)
	close(s.In())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pub.len() != 1 || len(pub.get(0).Events) != 7 {
		t.Fatalf("batches %d", pub.len())
	}
}

// blockingPublisher takes nothing: Publish waits for ctx.
type blockingPublisher struct{ entered chan struct{} }

func (p *blockingPublisher) Publish(ctx context.Context, b *Batch) error {
	p.entered <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// A Run blocked in Publish (the output cannot take more) returns
// ctx.Err() once ctx is cancelled, having committed nothing, and a
// harvester's send blocked on the full spooler is not taken.
func TestCancelWhilePublishBlocks(t *testing.T) {
	pub := &blockingPublisher{entered: make(chan struct{}, 1)}
	com := &committed{off: make(map[string]int64)}
	s := New(Config{MaxEvents: 2, MaxBytes: 1 << 20, BatchEvents: 2, FlushInterval: time.Hour}, pub, com)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	src := &event.Source{ID: "a"}
	s.In() <- chunk(src, 0, 2) // a full batch: published at once
	<-pub.entered
	select {
	case s.In() <- chunk(src, 20, 1):
		t.Fatal("the spooler took a chunk while blocked in Publish")
	case err := <-done:
		t.Fatalf("Run returned %v before its context was cancelled", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if off := com.get("a"); off != 0 {
		t.Fatalf("offset %d committed for a batch nobody acknowledged", off)
	}
	if st := s.Stats(); st.QueuedEvents != 2 {
		t.Fatalf("%d events queued, want the 2 taken", st.QueuedEvents)
	}
}
