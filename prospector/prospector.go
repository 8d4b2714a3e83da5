package prospector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/fsnotify/fsnotify"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/harvester"
	"github.com/logship/logship/registry"
)

// Registry is what the prospector reads to resume files.
type Registry interface {
	Get(id string) (registry.Entry, bool)
}

// input is one configured input, compiled.
type input struct {
	cfg     config.Input
	exclude []*regexp.Regexp
	meta    *event.Input
	hcfg    harvester.Config
	last    time.Time // last scan
}

// running is a harvester and what the prospector keeps to steer it.
type running struct {
	h    *harvester.Harvester
	wake chan struct{}
	path string
	id   fileID
}

// known is where a file whose harvester has stopped resumes.
type known struct {
	offset int64
	fp     uint64
	fpLen  int64
	size   int64
}

type finished struct {
	r   *running
	err error
}

// Prospector finds files and runs their harvesters. Create it with New and
// run it once with Run.
type Prospector struct {
	inputs []*input
	out    chan<- *event.Chunk
	reg    Registry
	stats  *harvester.Stats
	log    *slog.Logger

	open atomic.Int64

	// Owned by Run's goroutine.
	running  map[fileID]*running
	byPath   map[string]*running
	known    map[fileID]*known
	warned   map[string]string // path → last open error logged
	done     chan finished
	firstRun bool
}

// New compiles the inputs. Harvesters send their chunks to out; reg supplies
// resume offsets; stats (shared with the harvesters) may be nil.
func New(inputs []config.Input, out chan<- *event.Chunk, reg Registry, stats *harvester.Stats, log *slog.Logger) (*Prospector, error) {
	p := &Prospector{
		out: out, reg: reg, stats: stats,
		log:     log.With("component", "prospector"),
		running: make(map[fileID]*running), byPath: make(map[string]*running),
		known: make(map[fileID]*known), warned: make(map[string]string),
		done: make(chan finished), firstRun: true,
	}
	for i, in := range inputs {
		ci := &input{cfg: in, meta: &event.Input{Type: in.Type, Index: i, FieldsUnderRoot: in.FieldsUnderRoot}}
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
		ci.hcfg = harvester.Config{MaxBytes: int(in.MaxBytes), CloseInactive: in.CloseInactive.D()}
		p.inputs = append(p.inputs, ci)
	}
	return p, nil
}

// OpenFiles is the number of running harvesters; safe for concurrent use.
func (p *Prospector) OpenFiles() int { return int(p.open.Load()) }

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
			if ev.Has(fsnotify.Write) {
				if r := p.byPath[ev.Name]; r != nil {
					select {
					case r.wake <- struct{}{}:
					default:
					}
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
		case f := <-p.done:
			p.finish(f)
		}
	}
}

// wait stops every harvester and collects them.
func (p *Prospector) wait(stop context.CancelFunc) {
	stop()
	for len(p.running) > 0 {
		p.finish(<-p.done)
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

func (p *Prospector) finish(f finished) {
	r := f.r
	delete(p.running, r.id)
	if p.byPath[r.path] == r {
		delete(p.byPath, r.path)
	}
	p.open.Add(-1)
	src := r.h.Source()
	k := &known{offset: r.h.Offset(), fp: src.Fingerprint, fpLen: src.FingerprintLen}
	if fi, err := os.Stat(r.path); err == nil {
		k.size = fi.Size()
	}
	switch {
	case errors.Is(f.err, harvester.ErrRemoved):
		p.log.Info("file removed, closed", "path", r.path)
		return // its inode may be reused; nothing to remember
	case errors.Is(f.err, harvester.ErrInactive):
		p.log.Debug("file inactive, closed", "path", r.path, "offset", k.offset)
	case errors.Is(f.err, context.Canceled):
	case f.err != nil:
		p.log.Error("harvester failed, will retry", "path", r.path, "err", f.err)
		k.size = -1 // retry at the next scan whatever the size
	}
	p.known[r.id] = k
}

// scan expands every input's globs and starts harvesters for new or grown
// files. all forces every input to be scanned now.
func (p *Prospector) scan(ctx context.Context, w *fsnotify.Watcher, all bool) {
	now := time.Now()
	seen := make(map[fileID]bool)
	dirs := make(map[string]bool)
	for _, in := range p.inputs {
		if !all && now.Sub(in.last) < in.cfg.ScanFrequency.D() {
			// Not due: still count its files as seen.
			for _, pat := range in.cfg.Paths {
				p.matches(in, pat, dirs, func(path string, id fileID, fi os.FileInfo) { seen[id] = true })
			}
			continue
		}
		in.last = now
		for _, pat := range in.cfg.Paths {
			p.matches(in, pat, dirs, func(path string, id fileID, fi os.FileInfo) {
				if seen[id] {
					return // one harvester per file, whatever matched it
				}
				seen[id] = true
				p.consider(ctx, in, path, id, fi)
			})
		}
	}
	for id := range p.known {
		if !seen[id] {
			delete(p.known, id) // gone: forget it, its inode may be reused
		}
	}
	p.watch(w, dirs)
	p.firstRun = false
}

// matches calls fn for every regular file pattern matches, minus exclusions,
// and records the directories worth watching in dirs.
func (p *Prospector) matches(in *input, pattern string, dirs map[string]bool, fn func(string, fileID, os.FileInfo)) {
	base, _ := doublestar.SplitPattern(filepath.ToSlash(pattern))
	dirs[nearestDir(filepath.FromSlash(base))] = true
	paths, err := doublestar.FilepathGlob(pattern, doublestar.WithFilesOnly(), doublestar.WithNoFollow())
	if err != nil {
		p.log.Warn("glob failed", "pattern", pattern, "err", err)
		return
	}
	for _, path := range paths {
		if excluded(in.exclude, path) {
			continue
		}
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone since the glob, or a symlink, device or pipe
		}
		id, err := identity(fi)
		if err != nil {
			continue
		}
		dirs[filepath.Dir(path)] = true
		fn(path, id, fi)
	}
}

func excluded(res []*regexp.Regexp, path string) bool {
	for _, re := range res {
		if re.MatchString(path) {
			return true
		}
	}
	return false
}

// nearestDir is dir, or its closest existing ancestor, so that a directory
// created after start is noticed.
func nearestDir(dir string) string {
	if dir == "" {
		dir = "."
	}
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// watch makes the watcher cover exactly dirs.
func (p *Prospector) watch(w *fsnotify.Watcher, dirs map[string]bool) {
	have := make(map[string]bool)
	for _, d := range w.WatchList() {
		if !dirs[d] {
			_ = w.Remove(d)
			continue
		}
		have[d] = true
	}
	for d := range dirs {
		if !have[d] {
			if err := w.Add(d); err != nil {
				p.log.Debug("cannot watch directory, relying on rescans", "dir", d, "err", err)
			}
		}
	}
}

// consider starts a harvester for a matched file unless one runs already or
// the file has not changed since its harvester stopped.
func (p *Prospector) consider(ctx context.Context, in *input, path string, id fileID, fi os.FileInfo) {
	if r := p.running[id]; r != nil {
		if r.path != path && p.byPath[path] == nil {
			p.byPath[path] = r // renamed: route its write events too
		}
		return
	}
	k := p.known[id]
	if k != nil && k.size == fi.Size() && k.offset == fi.Size() {
		return // unchanged since it was closed
	}
	f, err := os.Open(path)
	if err != nil {
		if p.warned[path] != err.Error() {
			p.log.Error("cannot open file, will retry", "path", path, "err", err)
			p.warned[path] = err.Error()
		}
		return
	}
	delete(p.warned, path)
	// Identity from the open file, not the earlier stat: the path may
	// have been replaced in between.
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	if oid, err := identity(ofi); err != nil || oid != id {
		f.Close()
		return // replaced since the glob: the next scan sees the new file
	}
	fp, fpLen, err := fingerprint(f, FingerprintSize)
	if err != nil {
		f.Close()
		p.log.Error("cannot read file, will retry", "path", path, "err", err)
		return
	}
	offset := p.resumeAt(in, f, id, fp, fpLen, ofi.Size(), k)
	src := &event.Source{
		ID: id.String(), Path: path, Dev: id.dev, Inode: id.ino,
		Fingerprint: fp, FingerprintLen: fpLen, Input: in.meta,
	}
	r := &running{wake: make(chan struct{}, 1), path: path, id: id}
	r.h = harvester.New(in.hcfg, src, f, offset, p.out, r.wake, p.stats, p.log)
	p.running[id], p.byPath[path] = r, r
	delete(p.known, id)
	p.open.Add(1)
	p.log.Debug("harvester started", "path", path, "offset", offset)
	go func() {
		err := r.h.Run(ctx)
		p.done <- finished{r: r, err: err}
	}()
}

// resumeAt decides where reading a file starts.
func (p *Prospector) resumeAt(in *input, f *os.File, id fileID, fp uint64, fpLen, size int64, k *known) int64 {
	var offset, prevLen int64
	var prevFP uint64
	switch e, ok := p.reg.Get(id.String()); {
	case k != nil:
		offset, prevFP, prevLen = k.offset, k.fp, k.fpLen
	case ok:
		offset, prevFP, prevLen = e.Offset, e.Fingerprint, e.FingerprintLen
	default:
		if p.firstRun && in.cfg.StartPosition == config.StartEnd {
			// Files present at start with start_position: end begin at
			// their end; files that appear later are read whole.
			return endOfLastLine(f, size)
		}
		return 0
	}
	// The recorded fingerprint may cover fewer bytes than today's.
	if prevLen != fpLen {
		h, n, err := fingerprint(f, prevLen)
		if err != nil || n != prevLen {
			return 0
		}
		fp = h
	}
	if fp != prevFP {
		p.log.Info("file identity reused by new content, reading from the start", "inode", id.ino)
		return 0
	}
	if offset > size {
		p.log.Warn("file shorter than its committed offset (truncated), reading from the start", "offset", offset, "size", size)
		return 0
	}
	return offset
}

// endOfLastLine is the offset just after the last newline before size.
func endOfLastLine(f *os.File, size int64) int64 {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, _ := f.ReadAt(buf[:end-start], start)
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return start + int64(i) + 1
			}
		}
		end = start
	}
	return 0
}
