package prospector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/harvester"
	"github.com/logship/logship/internal/backoff"
	"github.com/logship/logship/registry"
)

// Registry is what the prospector needs from the registry: resume positions,
// entering files it has not seen, and forgetting files that are gone. It
// never commits a delivered position: the acker alone does.
type Registry interface {
	Get(id string) (registry.Entry, bool)
	// Seed enters a file the registry does not know at a position that is
	// delivered or need not be (see registry.Registry.Seed); an existing
	// entry is left as it is.
	Seed(src *event.Source, pos fileid.Position) bool
	// Replace enters src in place of an entry for other content with the
	// same identity, keeping that content as the entry's Previous.
	Replace(src *event.Source, pos fileid.Position)
	Entries() []registry.Entry
	Remove(id string)
	LastWrite() time.Time
	// Flush writes the registry file now.
	Flush() error
}

// input is one configured input, compiled.
type input struct {
	cfg     config.Input
	exclude []*regexp.Regexp
	meta    *event.Input
	hcfg    harvester.Config
	last    time.Time // last scan
	open    int       // running harvesters
	stats   *harvester.Stats
}

// running is a harvester and what the prospector keeps to steer it.
type running struct {
	h       *harvester.Harvester
	wake    chan struct{}
	path    string
	aliases []string // other paths byPath routes to it (it was renamed)
	id      fileid.ID
	input   int
	// failures is how many harvesters of the file failed (panicked or
	// could not read) in a row before this one.
	failures int
}

// poke wakes the harvester waiting at its file's end; a wake already
// pending stands for this one.
func (r *running) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// known is the state of a file whose harvester has stopped.
type known struct {
	pos      fileid.Position
	fp       fileid.FingerprintValue
	retry    bool // start again once retryAt has passed, whatever the size
	finished bool // a compressed file read to its end: never again
	// failures counts the harvesters of the file that failed in a row;
	// each failure doubles the wait before the next (retryAt).
	failures int
	retryAt  time.Time
}

// maxRetryWait bounds the wait before a file whose harvesters keep
// failing is tried again.
const maxRetryWait = 5 * time.Minute

type finished struct {
	r   *running
	err error
}

// Prospector finds files and runs their harvesters. Create it with New and
// run it once with Run.
type Prospector struct {
	inputs  []*input
	gate    *harvester.Gate // shared by every harvester: see readersAtOnce
	out     chan<- *event.Chunk
	reg     Registry
	log     *slog.Logger
	baseLog *slog.Logger // for harvesters, which scope their own
	index   *fileid.Index

	open     atomic.Int64
	openPeak atomic.Int64
	scans    atomic.Int64

	// openSet mirrors running for other goroutines (Lag).
	openMu  sync.Mutex
	openSet map[fileid.ID]*running

	// Harvesters that stopped, queued for Run's goroutine: a stopped
	// harvester never waits to be collected.
	doneMu  sync.Mutex
	doneQ   []finished
	doneSig chan struct{} // capacity 1

	// Owned by Run's goroutine.
	running map[fileid.ID]*running
	byPath  map[string]*running
	known   map[fileid.ID]*known
	warned  map[string]string       // path → last open error logged
	sizes   map[fileid.ID]int64     // rotated files held while they grow (see stillWritten)
	heads   *fileid.Set[[]*running] // see runningHeads; nil until needed in a scan
	// rewritten is rewrittenRunning's answer in this scan, once checked.
	rewritten        *running
	rewrittenChecked bool
	firstRun         bool
	started          bool      // start_position applies: the agent's first configuration
	since            time.Time // unknown rotated files modified after this are read
	newFiles         bool      // live files entered in the registry by this scan: flush it
	waiting          int       // files held back by harvester_limit at the last scan
	limits           limitCheck
	// hold, until closed, keeps every file from being read: files found
	// are only entered in the registry (see HoldUntil). nil: no hold.
	hold <-chan struct{}
}

// New compiles the inputs. Harvesters send their chunks to out; reg supplies
// resume positions.
func New(inputs []config.Input, out chan<- *event.Chunk, reg Registry, log *slog.Logger) (*Prospector, error) {
	p := &Prospector{
		out: out, reg: reg, openSet: make(map[fileid.ID]*running), gate: harvester.NewGate(readersAtOnce),
		log:     log.With("component", "prospector"),
		baseLog: log,
		index:   fileid.NewIndex(),
		running: make(map[fileid.ID]*running), byPath: make(map[string]*running),
		known: make(map[fileid.ID]*known), warned: make(map[string]string), sizes: make(map[fileid.ID]int64),
		doneSig: make(chan struct{}, 1), firstRun: true, started: true,
	}
	for i, in := range inputs {
		ci := &input{cfg: in, meta: &event.Input{Type: in.Type, Index: i, Fields: in.Fields, FieldsUnderRoot: in.FieldsUnderRoot}, stats: new(harvester.Stats)}
		if len(in.Fields) > 0 {
			b, err := json.Marshal(in.Fields)
			if err != nil {
				return nil, fmt.Errorf("inputs[%d].fields: %w", i, err)
			}
			ci.meta.FieldsJSON = b
		}
		for j, re := range in.ExcludeFiles {
			c, err := regexp.Compile(re)
			if err != nil {
				return nil, fmt.Errorf("inputs[%d].exclude_files[%d]: %w", i, j, err)
			}
			ci.exclude = append(ci.exclude, c)
		}
		enc, err := harvester.LookupEncoding(in.Encoding)
		if err != nil {
			return nil, fmt.Errorf("inputs[%d].encoding: %w", i, err)
		}
		ci.hcfg = harvester.Config{
			Encoding:          enc,
			MaxBytes:          int(in.MaxBytes),
			CloseInactive:     in.CloseInactive.D(),
			CloseEOF:          in.CloseEOF,
			CloseRenamed:      in.CloseRenamed,
			CloseRemoved:      in.CloseRemoved,
			CloseRemovedAfter: in.CloseRemovedAfter.D(),
			OnTruncate:        p.indexRead,
			Watched:           true, // by write events and by scans (see wakeChanged)
		}
		p.inputs = append(p.inputs, ci)
	}
	return p, nil
}

// Reloaded tells the prospector that it replaces another in the same run
// (a reload): start_position then applies to no file, since every file it
// finds that the registry does not know appeared since the agent started.
// Call it before Run.
func (p *Prospector) Reloaded() { p.started = false }

// HoldUntil makes the prospector read no file until ready is closed: the
// files it finds meanwhile are entered in the registry (a rotation before
// they are read, then a crash, must not make them history) but not read,
// and the content index is built from the registry only once ready, so
// whoever closes it may first replace entries (exactly_once's positions
// read back from Kafka). Call it before Run.
func (p *Prospector) HoldUntil(ready <-chan struct{}) { p.hold = ready }

// KeepBytes makes every harvester ship its UTF-8 lines as written, invalid
// UTF-8 included (codec raw promises the line as written). Call it before
// Run.
func (p *Prospector) KeepBytes() {
	for _, in := range p.inputs {
		in.hcfg.KeepBytes = true
	}
}

// UsePipeline makes the harvesters of input i shape their lines with the
// processors pipeline makes (one per file). Call it before Run.
func (p *Prospector) UsePipeline(i int, pipeline func(*event.Source) harvester.Processor) {
	p.inputs[i].hcfg.Pipeline = pipeline
}

// InputStats are the harvesters' counters, one set per input in the
// configuration's order; safe for concurrent use.
func (p *Prospector) InputStats() []*harvester.Stats {
	out := make([]*harvester.Stats, len(p.inputs))
	for i, in := range p.inputs {
		out[i] = in.stats
	}
	return out
}

// FileLag is how far behind delivery an open file is.
type FileLag struct {
	Input int
	Path  string
	// Bytes is the file's size less its committed (delivered) offset.
	Bytes int64
}

// Lag reports every open file's lag; safe for concurrent use.
func (p *Prospector) Lag() []FileLag {
	p.openMu.Lock()
	open := make([]*running, 0, len(p.openSet))
	for _, r := range p.openSet {
		open = append(open, r)
	}
	p.openMu.Unlock()
	out := make([]FileLag, 0, len(open))
	for _, r := range open {
		if r.h.Gzip() {
			continue // compressed size against a decompressed offset says nothing
		}
		size, err := r.h.Size()
		if err != nil {
			continue // closed meanwhile
		}
		var done int64
		if e, ok := p.reg.Get(r.id.String()); ok {
			done = e.Offset
		}
		out = append(out, FileLag{Input: r.input, Path: r.path, Bytes: max(0, size-done)})
	}
	return out
}

// OpenFiles is the number of running harvesters; safe for concurrent use.
func (p *Prospector) OpenFiles() int { return int(p.open.Load()) }

// OpenFilesPeak is the most harvesters that ran at once since start; safe
// for concurrent use.
func (p *Prospector) OpenFilesPeak() int { return int(p.openPeak.Load()) }

// readersAtOnce is how many harvesters read at once (see harvester.Gate):
// enough to keep the output busy from a few files while others wait, few
// enough that files behind cost a few read buffers and chunks in all.
const readersAtOnce = 4

// Scans is how many scans have completed; safe for concurrent use.
func (p *Prospector) Scans() int64 { return p.scans.Load() }

// Run scans and harvests until ctx is done, then stops every harvester and
// waits for them before it returns. It returns nil on cancellation.
func (p *Prospector) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("start file watcher: %w", err)
	}
	defer w.Close()
	hctx, stopHarvesters := context.WithCancel(context.WithoutCancel(ctx))
	defer p.wait(stopHarvesters)

	p.since = p.reg.LastWrite()
	if p.since.IsZero() {
		p.since = time.Now() // first start: old rotated files are history
	}
	if p.hold == nil {
		p.indexRegistry()
	}

	tick := time.NewTicker(p.minScanFrequency())
	defer tick.Stop()
	rescan := time.NewTimer(0) // the first scan, at once
	defer rescan.Stop()
	rescanArmed := true
	soon := func() {
		if !rescanArmed {
			rescan.Reset(50 * time.Millisecond) // coalesce bursts of events
			rescanArmed = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			p.scan(hctx, w, false)
		case <-rescan.C:
			rescanArmed = false
			p.scan(hctx, w, true)
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("file watcher closed")
			}
			r := p.byPath[ev.Name]
			if r != nil && ev.Op&(fsnotify.Write|fsnotify.Remove|fsnotify.Rename) != 0 {
				r.poke() // written, or gone from this path: close policies apply at its end
				if ev.Op == fsnotify.Write {
					continue
				}
			}
			if ev.Op != fsnotify.Chmod {
				soon()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file watcher closed")
			}
			// Typically an inotify queue overflow: events were lost, so
			// look at everything again.
			p.log.Warn("file watcher error, rescanning", "err", err)
			soon()
		case <-p.doneSig:
			p.collect()
			if p.waiting > 0 {
				soon() // a harvester slot is free
			}
		case <-p.hold:
			p.hold = nil // a nil channel: never again
			p.indexRegistry()
			soon() // read what was held back
		}
	}
}

// indexRead records in the content index that src's content was read (every
// line before pos handed downstream), with its marks and, as it moves, how
// far it is delivered. Harvesters call it from their goroutines.
func (p *Prospector) indexRead(src *event.Source, pos fileid.Position) {
	p.index.Add(src.Fingerprint.Load(), pos, src.Marks.Snapshot(), src.Delivered)
}

// indexRegistry puts the registry's entries in the content index: content
// delivered up to their positions, so that a copy of it found under another
// inode continues there.
func (p *Prospector) indexRegistry() {
	for _, e := range p.reg.Entries() {
		p.index.AddDelivered(fileid.FingerprintValue{Hash: e.Fingerprint, Len: e.FingerprintLen}, e.Position())
		if c := e.Previous; c != nil {
			p.index.AddDelivered(fileid.FingerprintValue{Hash: c.Fingerprint, Len: c.FingerprintLen}, c.Position())
		}
	}
}

// held reports whether files are only entered, not read (see HoldUntil).
func (p *Prospector) held() bool {
	if p.hold == nil {
		return false
	}
	select {
	case <-p.hold:
		return false // Run learns it on its own
	default:
		return true
	}
}

// wait stops every harvester and collects them.
func (p *Prospector) wait(stop context.CancelFunc) {
	stop()
	for len(p.running) > 0 {
		<-p.doneSig
		p.collect()
	}
}

// collect finishes the harvesters that stopped.
func (p *Prospector) collect() {
	p.doneMu.Lock()
	q := p.doneQ
	p.doneQ = nil
	p.doneMu.Unlock()
	for _, f := range q {
		p.finish(f)
	}
}

func (p *Prospector) minScanFrequency() time.Duration {
	d := time.Duration(0)
	for _, in := range p.inputs {
		if f := in.cfg.ScanFrequency.D(); d == 0 || f < d {
			d = f
		}
	}
	if d <= 0 {
		d = 10 * time.Second
	}
	return d
}

// finish records why and where a harvester stopped.
func (p *Prospector) finish(f finished) {
	r := f.r
	delete(p.running, r.id)
	p.inputs[r.input].open--
	p.openMu.Lock()
	delete(p.openSet, r.id)
	p.openMu.Unlock()
	for _, path := range append(r.aliases, r.path) {
		if p.byPath[path] == r {
			delete(p.byPath, path) // a stale entry would keep r, and its harvester, for good
		}
	}
	p.open.Add(-1)
	pos, fp := r.h.Position(), r.h.Source().Fingerprint.Load()
	p.indexRead(r.h.Source(), pos)
	k := &known{pos: pos, fp: fp}
	switch {
	case errors.Is(f.err, harvester.ErrRemoved), errors.Is(f.err, harvester.ErrAbandoned):
		p.log.Info("file removed, closed", "path", r.path, "offset", pos.Offset)
		return // its inode may be reused; its content is in the index
	case errors.Is(f.err, harvester.ErrEOF) && r.h.Gzip():
		k.finished = true
	case errors.Is(f.err, harvester.ErrInactive), errors.Is(f.err, harvester.ErrEOF), errors.Is(f.err, harvester.ErrRenamed):
		p.log.Debug("file closed", "path", r.path, "offset", pos.Offset, "why", f.err)
	case errors.Is(f.err, context.Canceled):
	case errors.Is(f.err, harvester.ErrPanic), f.err != nil:
		p.retryLater(r, k, f.err)
	}
	p.known[r.id] = k
}

// retryLater schedules a file whose harvester failed to be tried again
// after a wait that doubles with each failure in a row (from its input's
// scan_frequency to maxRetryWait). The first failure is logged whole (a
// panic with its stack); the ones after it in one line each.
func (p *Prospector) retryLater(r *running, k *known, err error) {
	k.retry, k.failures = true, r.failures+1
	wait := backoff.Delay(p.inputs[r.input].cfg.ScanFrequency.D(), maxRetryWait, k.failures)
	k.retryAt = time.Now().Add(wait)
	panicked := errors.Is(err, harvester.ErrPanic)
	switch {
	case k.failures == 1 && panicked:
		p.log.Error("harvester panicked; the file is retried from its last line sent", "path", r.path, "retry_in", wait, "err", err)
	case k.failures == 1:
		p.log.Error("harvester failed, will retry", "path", r.path, "retry_in", wait, "err", err)
	default:
		msg, _, _ := strings.Cut(err.Error(), "\n") // without the stack logged the first time
		p.log.Error("harvester failed again, will retry", "path", r.path, "failures", k.failures, "retry_in", wait, "err", msg)
	}
}
