// Where a file found by a scan starts being read: from its own committed
// offset, as a copy of content being or already read, or as new content.

package prospector

import (
	"io"
	"os"

	"github.com/logship/logship/config"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/registry"
)

// How a file is started.
type resume int

const (
	notNow    resume = iota // not now: a later scan decides
	fromEntry               // at its registry entry's position
	fromKnown               // where this run's last harvester of it stopped
	fromCopy                // where the content it continues was read to
	fresh                   // new content, from its start
	fromEnd                 // at its end, by start_position: end
)

// plan is where a file starts being read, and where it may be entered in
// the registry. The two differ when reading starts at lines handed
// downstream (under this or another inode) but not yet delivered: the
// harvester then commits its start in order behind them (CommitStart).
type plan struct {
	start fileid.Position
	how   resume
	// safe is delivered, or before start_position: nothing before it is
	// to be shipped; never past start.
	safe fileid.Position
}

// resumeAt decides where reading a file starts. entry is the file's
// registry entry, if it has one.
func (p *Prospector) resumeAt(c candidate, ct fileid.Content, hd *fileid.Head, size int64, entry *registry.Entry) plan {
	// 1. This file, by identity: from this run, else from the registry,
	// trusted only while its head and the line before the offset match.
	var prev *known
	how := fromKnown
	if k := p.known[c.id]; k != nil {
		prev = k
	} else if entry != nil {
		prev = &known{pos: entry.Position(), fp: fileid.FingerprintValue{Hash: entry.Fingerprint, Len: entry.FingerprintLen}}
		how = fromEntry
	}
	switch {
	case prev != nil && prev.fp.Len == 0 && prev.pos.Offset == 0:
		// Seen empty (a file just created: a copy or a .gz being
		// written): that says nothing of what it holds now.
		prev = nil
	case how == fromEntry && prev.pos.Offset == 0:
		// Entered, nothing delivered yet (found while files were held
		// back, or just before a crash): its content may be a copy of
		// content delivered under another inode, which the steps below
		// find. The entry still makes it the agent's, not history.
		prev = nil
	}
	if prev != nil {
		switch {
		case prev.fp.Len > 0 && !hd.StartsWith(prev.fp):
			p.log.Info("file identity reused by new content", "path", c.path, "inode", c.id.Ino)
		case !ct.Gz && prev.pos.Offset > size:
			p.log.Warn("file shorter than its committed offset (truncated), reading from the start", "path", c.path, "offset", prev.pos.Offset, "size", size)
		case !ct.Check(prev.pos):
			p.log.Warn("file changed before its committed offset (truncated and rewritten), reading from the start", "path", c.path, "offset", prev.pos.Offset)
		default:
			safe := prev.pos
			if how == fromKnown {
				// Read to there; delivered as far as the entry says.
				safe = fileid.Position{}
				if entry != nil && entry.Offset <= prev.pos.Offset {
					safe = entry.Position()
				}
			}
			return plan{start: prev.pos, how: how, safe: safe}
		}
	}
	// 2. A copy of content a running harvester is still reading: wait
	// until the original is truncated or closed, and continue from there.
	// A file that only starts the same way (a banner every run writes) is
	// new content: a copy has the original's bytes.
	var original *running
	if p.runningHeads().Each(hd, func(rs []*running) bool {
		for _, r := range rs {
			if p.copyOfRunning(ct, size, r) {
				original = r
				return true
			}
		}
		return false
	}) {
		p.log.Debug("copy of a file still being read, waiting", "path", c.path, "original", original.path)
		return plan{}
	}
	// 3. Content read before under another inode (copytruncate, rotated
	// and compressed, moved): continue where it stopped.
	if e, ok := p.index.Lookup(hd); ok {
		switch {
		case ct.Gz || e.Pos.Offset <= size:
			if ct.Check(e.Pos) {
				p.log.Info("file continues known content", "path", c.path, "offset", e.Pos.Offset)
				return copyPlan(ct, e.Pos, e.Delivered(), size)
			}
		default:
			// Shorter than what was read of the original: a copy taken
			// before the original's last lines (copytruncate), if it has
			// the original's bytes where it ends.
			if pos, ok := ct.ResumeCopy(e.Marks, size); ok {
				p.log.Info("file is a copy of content already read", "path", c.path, "size", size, "offset", pos.Offset)
				return copyPlan(ct, pos, e.Delivered(), size)
			}
			if p.stillWritten(c, size) {
				p.log.Debug("rotated file starts like content read before and still grows (a copy being written?), waiting", "path", c.path, "size", size)
				return plan{}
			}
			p.log.Info("file starts like content read before but is not a copy of it, reading from the start", "path", c.path)
		}
	}
	// 4. A running harvester's file was truncated and written again, and
	// the harvester has not seen it yet: this file may be a copy of the
	// new content (rotated and compressed at once), which nothing knows
	// until the harvester reads it. Wait until it has.
	if r := p.rewrittenRunning(); r != nil {
		p.log.Debug("a file being read was rewritten and its harvester has not seen it yet; waiting before deciding whether this is a copy of it",
			"path", c.path, "rewritten", r.path)
		return plan{}
	}
	// A rotated file too short to be told from a copy being written (its
	// head is shorter than the fingerprint) waits while it grows.
	if hd.Full.Len < fileid.FingerprintSize && p.stillWritten(c, size) {
		return plan{}
	}
	// 5. New content. A file the registry knows (entered when found, even
	// if it could not be read at once) is the agent's, however old.
	if c.rotated && c.fi.ModTime().Before(p.since) && entry == nil {
		return plan{} // an old rotated file: history, not ours
	}
	if p.firstRun && p.started && c.in.cfg.StartPosition == config.StartEnd && !c.rotated && !ct.Gz && entry == nil {
		// Files present at start with start_position: end begin at their
		// end; files that appear later are read whole.
		endAt, err := endOfLastLine(ct.F, size)
		if err != nil {
			p.log.Error("cannot read file, will retry", "path", c.path, "err", err)
			return plan{}
		}
		end := fileid.Position{Offset: endAt, TailLen: -1}
		return plan{start: end, how: fromEnd, safe: end}
	}
	return plan{how: fresh}
}

// stillWritten reports whether a file matched by rotated_files only has
// grown since the last scan looked at it (the first look counts as grown):
// a copy is written there (copytruncate's cp), and a copy read while it is
// written would be taken for new content and read from its start. A file
// that stopped growing is decided at the next scan; live files (paths) are
// never held.
func (p *Prospector) stillWritten(c candidate, size int64) bool {
	if !c.rotated {
		return false
	}
	prev, seen := p.sizes[c.id]
	p.sizes[c.id] = size
	return !seen || prev != size
}

// copyPlan starts a copy at start, where its original was read to, and
// enters it where the original is delivered (delivered), or at start if
// that is before, or at its beginning when the delivered position is not in
// the copy: never ahead of what Kafka acknowledged of the original.
func copyPlan(ct fileid.Content, start, delivered fileid.Position, size int64) plan {
	pl := plan{start: start, how: fromCopy}
	switch {
	case delivered.Offset >= start.Offset:
		pl.safe = start
	case (ct.Gz || delivered.Offset <= size) && ct.Check(delivered):
		pl.safe = delivered
	}
	return pl
}

// copyOfRunning reports whether the file c (size bytes, whose head matches
// r's) holds r's bytes up to the shorter one's end.
func (p *Prospector) copyOfRunning(ct fileid.Content, size int64, r *running) bool {
	if ct.Gz || r.h.Gzip() {
		return true // compressed: the heads decide
	}
	osize, err := r.h.Size()
	if err != nil {
		return true // closing: wait for where it stopped
	}
	if fileid.SameBytes(ct.F, r.h, min(size, osize)) {
		return true
	}
	// The original truncated under its harvester, which has not seen it
	// yet: when it does, what it read goes into the content index, and a
	// later scan resumes the copy from there. Deciding now would read the
	// copy again from its start.
	return r.h.Rewritten()
}

// runningHeads is the running harvesters by head fingerprint, as they are
// at this scan (a harvester extends its fingerprint while its file is
// shorter than the fingerprint size), made at the first need in a scan.
func (p *Prospector) runningHeads() *fileid.Set[[]*running] {
	if p.heads == nil {
		s := fileid.NewSet[[]*running]()
		for _, r := range p.running {
			if fp := r.h.Source().Fingerprint.Load(); fp.Len > 0 {
				s.Put(fp, append(s.At(fp), r))
			}
		}
		p.heads = &s
	}
	return p.heads
}

// rewrittenRunning is a running harvester whose file no longer starts as
// the harvester read it (truncated and written again, not seen yet), as
// found at the first need in a scan; nil when there is none.
func (p *Prospector) rewrittenRunning() *running {
	if !p.rewrittenChecked {
		p.rewrittenChecked, p.rewritten = true, nil
		for _, r := range p.running {
			if !r.h.Gzip() && r.h.Rewritten() {
				p.rewritten = r
				break
			}
		}
	}
	return p.rewritten
}

// endOfLastLine is the offset just after the last newline before size.
func endOfLastLine(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !(err == io.EOF && n == int(end-start)) {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}
