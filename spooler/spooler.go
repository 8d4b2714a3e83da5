package spooler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/logship/logship/event"
)

// Publisher is what the spooler needs from an output.
type Publisher interface {
	// Publish hands b to the output. It may block while the output cannot
	// take more, and returns ctx.Err() if ctx ends first. Once it returns
	// nil the output owns b and calls b.Ack for every event as Kafka
	// acknowledges it; events that fail are retried, never skipped. A
	// batch may hold no events, only positions (Advances) past skipped
	// lines: the output acknowledges it with Ack(0) once those are
	// committed.
	Publish(ctx context.Context, b *Batch) error
}

// Config bounds the spooler and says how it batches.
type Config struct {
	MaxEvents     int
	MaxBytes      int
	BatchEvents   int
	FlushInterval time.Duration
}

// Stats is a snapshot of the spooler's counters.
type Stats struct {
	QueuedEvents, QueuedBytes int   // held, from harvester to acknowledgement
	InflightBatches           int   // published, not yet committed
	AckedEvents, AckedBytes   int64 // acknowledged since start
	// OldestUnacked is when the oldest batch not yet acknowledged was
	// published; zero when none is waiting.
	OldestUnacked time.Time
}

// Spooler batches events from harvesters for a Publisher. Create it with New;
// run it once with Run.
type Spooler struct {
	cfg   Config
	in    chan *event.Chunk
	pub   Publisher
	acker *acker

	mu     sync.Mutex
	events int
	bytes  int
	freed  chan struct{} // capacity 1: "something was released"

	batch  *Batch
	slices sync.Pool   // *[]event.Event of capacity BatchEvents, from batches done
	timer  *time.Timer // runs while a batch is open: FlushInterval from its first event
}

// New returns a spooler publishing to pub and committing delivered offsets
// to commit.
func New(cfg Config, pub Publisher, commit Committer) *Spooler {
	s := &Spooler{
		cfg:   cfg,
		in:    make(chan *event.Chunk),
		pub:   pub,
		freed: make(chan struct{}, 1),
	}
	s.acker = &acker{commit: commit, release: s.release, recycle: s.recycle}
	return s
}

// In is where harvesters send their chunks. A send blocks while the spooler
// is full. The owner closes In once no harvester will send again; Run then
// publishes what it holds and returns.
func (s *Spooler) In() chan<- *event.Chunk { return s.in }

// Stats returns the current counters; safe for concurrent use.
func (s *Spooler) Stats() Stats {
	s.mu.Lock()
	st := Stats{QueuedEvents: s.events, QueuedBytes: s.bytes}
	s.mu.Unlock()
	st.InflightBatches, st.OldestUnacked = s.acker.pending()
	st.AckedEvents, st.AckedBytes = s.acker.ackedEvents.Load(), s.acker.ackedBytes.Load()
	return st
}

func (s *Spooler) release(events, bytes int) {
	s.mu.Lock()
	s.events -= events
	s.bytes -= bytes
	s.mu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// full reports whether the spooler holds as much as it may. A chunk is taken
// whole while there is any room, so the bounds can be passed by one chunk.
func (s *Spooler) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events >= s.cfg.MaxEvents || s.bytes >= s.cfg.MaxBytes
}

// Run batches and publishes until In is closed (it then publishes what it
// holds and returns nil) or ctx is done (returns ctx.Err()).
func (s *Spooler) Run(ctx context.Context) error {
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()
	for {
		var in <-chan *event.Chunk
		if !s.full() {
			in = s.in
		}
		select {
		case c, ok := <-in:
			if !ok {
				return s.publish(ctx)
			}
			if err := s.add(ctx, c); err != nil {
				return err
			}
			// Whatever else harvesters hold ready joins this batch.
			if open, err := s.takeReady(ctx); err != nil || !open {
				return err
			}
			if err := s.publishIfIdle(ctx); err != nil {
				return err
			}
		case <-s.freed:
			if err := s.publishIfIdle(ctx); err != nil {
				return err
			}
		case <-s.timer.C:
			if err := s.publish(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// takeReady adds the chunks harvesters are waiting to hand over, without
// waiting for more. It reports false when In was closed (what it held is
// published then).
func (s *Spooler) takeReady(ctx context.Context) (bool, error) {
	for !s.full() {
		select {
		case c, ok := <-s.in:
			if !ok {
				return false, s.publish(ctx)
			}
			if err := s.add(ctx, c); err != nil {
				return false, err
			}
		default:
			return true, nil
		}
	}
	return true, nil
}

// publishIfIdle publishes the open batch at once when no batch is waiting
// for Kafka: an idle pipeline sends a line as soon as it is read, while
// under load batches fill during each round trip (as Nagle's algorithm
// does). FlushInterval bounds how long a partial batch waits otherwise.
func (s *Spooler) publishIfIdle(ctx context.Context) error {
	if s.batch == nil || s.acker.unacked.Load() > 0 {
		return nil
	}
	return s.publish(ctx)
}

// add appends a chunk's events to the open batch, publishing every batch it
// fills. Skip events only carry a position; they take no room.
func (s *Spooler) add(ctx context.Context, c *event.Chunk) error {
	s.mu.Lock()
	s.events += c.Shipped()
	s.bytes += c.Bytes
	s.mu.Unlock()
	events := c.Events
	for len(events) > 0 {
		if s.batch == nil {
			s.batch = &Batch{Events: s.eventSlice()}
			s.timer.Reset(s.cfg.FlushInterval)
		}
		b := s.batch
		n := min(len(events), s.cfg.BatchEvents-len(b.Events))
		skips := false
		for i := range events[:n] {
			b.bytes += events[i].Size()
			skips = skips || events[i].Skip
		}
		if !skips {
			b.Events = append(b.Events, events[:n]...)
		} else {
			for i := range events[:n] {
				if e := &events[i]; e.Skip {
					b.skips = append(b.skips, skipMark{at: len(b.Events), src: e.Source, pos: event.PositionAfter(e)})
				} else {
					b.Events = append(b.Events, *e)
				}
			}
		}
		events = events[n:]
		if len(b.Events) >= s.cfg.BatchEvents {
			if err := s.publish(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// eventSlice is an empty slice for a batch's events: one a done batch
// left, or a new one. A batch per chunk (an idle pipeline) then costs no
// BatchEvents-long allocation each.
func (s *Spooler) eventSlice() []event.Event {
	if p, ok := s.slices.Get().(*[]event.Event); ok {
		return (*p)[:0]
	}
	return make([]event.Event, 0, s.cfg.BatchEvents)
}

// recycle keeps a done batch's events slice, cleared (the lines it points
// to are free), for a later batch.
func (s *Spooler) recycle(events []event.Event) {
	if cap(events) < s.cfg.BatchEvents {
		return
	}
	clear(events)
	events = events[:0]
	s.slices.Put(&events)
}

// publish hands the open batch, if any, to the output.
func (s *Spooler) publish(ctx context.Context) error {
	b := s.batch
	if b == nil {
		return nil
	}
	s.batch = nil
	b.Advances = advances(b.Events, b.skips)
	b.cut = time.Now()
	s.acker.add(b)
	// Published even when it holds only skipped lines: the positions it
	// advances are the output's to commit too (with exactly_once, into
	// the offsets topic inside a transaction).
	if err := s.pub.Publish(ctx, b); err != nil {
		return fmt.Errorf("publish batch: %w", err)
	}
	return nil
}
