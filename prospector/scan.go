package prospector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/fsnotify/fsnotify"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/harvester"
	"github.com/logship/logship/registry"
)

// candidate is a matched file that may need a harvester.
type candidate struct {
	in      *input
	path    string
	id      fileid.ID
	fi      os.FileInfo
	rotated bool // matched by rotated_files only
}

// scan expands the inputs' globs and starts harvesters for new or grown
// files. all forces every input to be scanned now.
func (p *Prospector) scan(ctx context.Context, w *fsnotify.Watcher, all bool) {
	now := time.Now()
	p.heads = nil // fingerprints grow between scans
	p.rewrittenChecked = false
	seen := make(map[fileid.ID]bool)
	dirs := make(map[string]bool)
	var todo []candidate
	complete := true // every input scanned: what was not seen is gone
	for _, in := range p.inputs {
		due := all || now.Sub(in.last) >= in.cfg.ScanFrequency.D()
		if due {
			in.last = now
		} else {
			complete = false
		}
		for i, set := range [][]string{in.cfg.Paths, in.cfg.RotatedFiles} {
			rotated := i == 1
			for _, pat := range set {
				p.matches(in, pat, dirs, func(c candidate) {
					if seen[c.id] {
						return // one harvester per file, whatever matched it
					}
					seen[c.id] = true
					if due {
						c.rotated = rotated
						todo = append(todo, c)
					}
				})
			}
		}
	}
	p.start(ctx, todo)
	if complete {
		p.clean(seen)
		for id, r := range p.running {
			if !seen[id] {
				r.poke() // gone from every path it was found by
			}
		}
	}
	p.watch(w, dirs)
	if p.firstRun {
		p.limits.check(p.log, p.inputs, len(seen), len(dirs))
	}
	p.firstRun = false
	p.scans.Add(1)
}

// start starts harvesters for the candidates that need one, oldest first
// while harvester_limit leaves room.
func (p *Prospector) start(ctx context.Context, todo []candidate) {
	// Rotated files first: their unread tails are older than the live
	// files' lines. Then oldest first.
	slices.SortStableFunc(todo, func(a, b candidate) int {
		if a.rotated != b.rotated {
			if a.rotated {
				return -1
			}
			return 1
		}
		return a.fi.ModTime().Compare(b.fi.ModTime())
	})
	p.waiting = 0
	for _, c := range todo {
		if r := p.running[c.id]; r != nil {
			if s := r.h.SeenSize(); s >= 0 && s != c.fi.Size() {
				r.poke() // changed, and no write event said so
			}
			if r.path != c.path && p.byPath[c.path] == nil {
				p.byPath[c.path] = r // renamed: route its write events too
				r.aliases = append(r.aliases, c.path)
			}
			continue
		}
		if !p.needsHarvester(c) {
			continue
		}
		if p.held() {
			p.enterWaiting(c)
			continue
		}
		if lim := c.in.cfg.HarvesterLimit; lim > 0 && c.in.open >= lim {
			p.waiting++
			p.enterWaiting(c)
			continue
		}
		p.consider(ctx, c)
	}
	if p.newFiles {
		p.newFiles = false
		if err := p.reg.Flush(); err != nil {
			p.log.Error("registry write failed", "err", err)
		}
	}
}

// needsHarvester rules out files that have not changed since they were
// read, and files too old to matter.
func (p *Prospector) needsHarvester(c candidate) bool {
	if k := p.known[c.id]; k != nil {
		if k.finished {
			return false
		}
		if k.retry {
			return !time.Now().Before(k.retryAt)
		}
		return k.pos.Offset != c.fi.Size()
	}
	if older := c.in.cfg.IgnoreOlder.D(); older > 0 && time.Since(c.fi.ModTime()) > older {
		if _, ok := p.reg.Get(c.id.String()); !ok {
			return false
		}
	}
	return true
}

func (p *Prospector) gzipCandidate(c candidate) bool {
	return c.in.cfg.Decompress != "" && c.in.cfg.Decompress != "none"
}

// clean forgets registry entries of files that are gone (clean_removed) or
// have not been updated for clean_inactive.
func (p *Prospector) clean(seen map[fileid.ID]bool) {
	for id := range p.known {
		if !seen[id] {
			delete(p.known, id) // gone: its inode may be reused
		}
	}
	for id := range p.sizes {
		if !seen[id] {
			delete(p.sizes, id)
		}
	}
	for path := range p.warned {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			delete(p.warned, path) // gone: logged again should it come back unreadable
		}
	}
	cleanRemoved, inactive := true, time.Duration(0)
	for _, in := range p.inputs {
		cleanRemoved = cleanRemoved && in.cfg.CleanRemoved
		if d := in.cfg.CleanInactive.D(); d > 0 && (inactive == 0 || d < inactive) {
			inactive = d
		}
	}
	p.index.Expire(24 * time.Hour)
	running := make(map[string]bool, len(p.running))
	for id := range p.running {
		running[id.String()] = true
	}
	found := make(map[string]bool, len(seen))
	for id := range seen {
		found[id.String()] = true
	}
	for _, e := range p.reg.Entries() {
		if running[e.ID] {
			continue
		}
		switch {
		case cleanRemoved && !found[e.ID] && !stillThere(e.Path, fileid.ID{Dev: e.Dev, Ino: e.Inode}):
			// Gone, not merely unmatched: a file no glob finds any more
			// that still exists (its input was removed by a reload, or
			// excluded) keeps its offset, in case it is matched again.
			p.reg.Remove(e.ID)
			p.log.Debug("registry entry removed: file gone", "path", e.Path)
		case inactive > 0 && time.Since(e.Updated) > inactive:
			p.reg.Remove(e.ID)
			p.log.Debug("registry entry removed: clean_inactive", "path", e.Path)
		}
	}
}

// stillThere reports whether path still leads to the file id.
func stillThere(path string, id fileid.ID) bool {
	fi, err := os.Stat(path)
	return err == nil && sameID(fi, id)
}

// matches calls fn for every regular file pattern matches, minus exclusions,
// and records the directories worth watching in dirs.
func (p *Prospector) matches(in *input, pattern string, dirs map[string]bool, fn func(candidate)) {
	base, _ := doublestar.SplitPattern(filepath.ToSlash(pattern))
	dirs[nearestDir(filepath.FromSlash(base))] = true
	opts := []doublestar.GlobOption{doublestar.WithFilesOnly()}
	if !in.cfg.Symlinks {
		opts = append(opts, doublestar.WithNoFollow())
	}
	paths, err := doublestar.FilepathGlob(pattern, opts...)
	if err != nil {
		p.log.Warn("glob failed", "pattern", pattern, "err", err)
		return
	}
	stat := os.Lstat
	if in.cfg.Symlinks {
		stat = os.Stat // the target's identity: two links, one file
	}
	for _, path := range paths {
		if excluded(in.exclude, path) {
			continue
		}
		fi, err := stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone since the glob, or a symlink, device or pipe
		}
		id, err := fileid.Of(fi)
		if err != nil {
			continue
		}
		dirs[filepath.Dir(path)] = true
		fn(candidate{in: in, path: path, id: id, fi: fi})
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

// opened is a candidate opened and planned: where it starts, as its
// harvester's Source.
type opened struct {
	f     *os.File
	ct    fileid.Content
	size  int64
	src   *event.Source
	entry *registry.Entry
	pl    plan
}

// openCandidate opens a candidate and decides where it starts; nil when it cannot
// be read now (a later scan decides).
func (p *Prospector) openCandidate(c candidate) *opened {
	f, err := os.Open(c.path)
	if err != nil {
		if p.warned[c.path] != err.Error() {
			p.log.Error("cannot open file, will retry", "path", c.path, "err", err)
			p.warned[c.path] = err.Error()
		}
		return nil
	}
	delete(p.warned, c.path)
	// Identity from the open file, not the earlier stat: the path may
	// have been replaced in between.
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil
	}
	if !sameID(ofi, c.id) {
		f.Close()
		return nil // replaced since the glob: the next scan sees the new file
	}
	ct := fileid.Content{F: f, Gz: p.gzipCandidate(c) && fileid.IsGzip(f)}
	if ct.Gz && !fileid.GzipComplete(f) {
		f.Close()
		p.log.Debug("compressed file incomplete (still being written?), waiting", "path", c.path)
		return nil
	}
	hd, err := ct.Head(fileid.FingerprintSize)
	if err != nil {
		f.Close()
		p.log.Error("cannot read file, will retry", "path", c.path, "err", err)
		return nil
	}
	o := &opened{f: f, ct: ct, size: ofi.Size()}
	if e, ok := p.reg.Get(c.id.String()); ok {
		o.entry = &e
	}
	o.pl = p.resumeAt(c, ct, hd, o.size, o.entry)
	if o.pl.how == notNow {
		f.Close()
		return nil
	}
	o.src = &event.Source{ID: c.id.String(), Path: c.path, Dev: c.id.Dev, Inode: c.id.Ino, Input: c.in.meta}
	o.src.Fingerprint.Store(hd.Full)
	return o
}

// enterWaiting enters in the registry a file held back (by harvester_limit,
// or before exactly_once's restore, see HoldUntil), if the registry does not
// know it yet: once rotated, or after a restart, a file the registry does
// not know may be taken for history.
func (p *Prospector) enterWaiting(c candidate) {
	if _, ok := p.reg.Get(c.id.String()); ok || p.known[c.id] != nil {
		return
	}
	if o := p.openCandidate(c); o != nil {
		p.enter(o.src, o.entry, o.pl)
		o.f.Close()
	}
}

// consider opens a candidate, decides where to start reading and starts its
// harvester, or leaves it for a later scan.
func (p *Prospector) consider(ctx context.Context, c candidate) {
	o := p.openCandidate(c)
	if o == nil {
		return
	}
	f, ct, src, start := o.f, o.ct, o.src, o.pl.start
	fp := src.Fingerprint.Load()
	commitStart := p.enter(src, o.entry, o.pl)
	if !ct.Gz && start.Offset == o.size && !commitStart {
		// Read to its end before: no harvester (and no fd) until it grows.
		f.Close()
		p.known[c.id] = &known{pos: start, fp: fp}
		return
	}
	hcfg := c.in.hcfg
	hcfg.Gzip = ct.Gz
	hcfg.CommitStart = commitStart
	hcfg.Gate = p.gate
	r := &running{wake: make(chan struct{}, 1), path: c.path, id: c.id, input: c.in.meta.Index}
	if k := p.known[c.id]; k != nil {
		r.failures = k.failures
	}
	r.h = harvester.New(hcfg, src, f, start, p.out, r.wake, c.in.stats, p.baseLog)
	p.running[c.id], p.byPath[c.path] = r, r
	c.in.open++
	if p.heads != nil && fp.Len > 0 {
		p.heads.Put(fp, append(p.heads.At(fp), r))
	}
	p.openMu.Lock()
	p.openSet[c.id] = r
	p.openMu.Unlock()
	delete(p.known, c.id)
	delete(p.sizes, c.id)
	if n := p.open.Add(1); n > p.openPeak.Load() {
		p.openPeak.Store(n) // only this goroutine writes it
	}
	p.log.Debug("harvester started", "path", c.path, "id", c.id.String(), "offset", start.Offset, "gzip", ct.Gz, "how", int(o.pl.how))
	go func() {
		err := r.h.Run(ctx)
		p.doneMu.Lock()
		p.doneQ = append(p.doneQ, finished{r: r, err: err})
		p.doneMu.Unlock()
		select {
		case p.doneSig <- struct{}{}:
		default:
		}
	}()
}

// enter makes the registry hold src where the plan says it is safe, and
// reports whether the harvester must commit its start through the pipeline
// (it starts past that). The registry's own entry for the file stays while
// the file is read on from it; an entry for other content with the same
// identity (reused inode, truncated while closed) is replaced, its
// harvesters' commits in flight ignored and its content kept as the
// entry's Previous. A file the registry did not
// know is written to disk with this scan (see start), so that after a crash
// it is finished, even rotated, rather than taken for history.
func (p *Prospector) enter(src *event.Source, entry *registry.Entry, pl plan) bool {
	switch {
	case pl.how == fromEntry:
		src.SetDelivered(pl.start)
		return false
	case entry != nil && pl.how == fromKnown:
		src.SetDelivered(entry.Position())
		return pl.start != entry.Position()
	case entry != nil:
		p.reg.Replace(src, pl.safe)
		p.newFiles = true
	default:
		if p.reg.Seed(src, pl.safe) {
			p.newFiles = true
		}
	}
	return pl.start != pl.safe
}

func sameID(fi os.FileInfo, id fileid.ID) bool {
	got, err := fileid.Of(fi)
	return err == nil && got == id
}
