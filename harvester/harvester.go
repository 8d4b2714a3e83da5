package harvester

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/internal/backoff"
	"github.com/logship/logship/internal/ratelog"
)

// Stats are counters shared by all harvesters; safe for concurrent use.
type Stats struct {
	Lines     atomic.Int64
	Bytes     atomic.Int64 // bytes of complete lines read, newlines included
	Truncated atomic.Int64 // lines longer than max_bytes
	// Abandoned counts bytes of deleted files given up by close_removed_after.
	Abandoned atomic.Int64
	// Panics counts harvesters that panicked (the file is retried).
	Panics atomic.Int64
}

// Why a harvester stopped.
var (
	ErrInactive  = errors.New("closed after close_inactive")
	ErrRemoved   = errors.New("file removed and read to its end")
	ErrRenamed   = errors.New("file renamed and read to its end")
	ErrEOF       = errors.New("file read to its end")
	ErrAbandoned = errors.New("deleted file abandoned after close_removed_after")
	ErrPanic     = errors.New("harvester panicked")
)

// Harvester reads one open file. It is created by New and run once by Run.
type Harvester struct {
	cfg Config
	src *event.Source // owned by Run; cur is the same for other goroutines
	cur atomic.Pointer[event.Source]
	// seenSize is the size at the last end of file (see SeenSize).
	seenSize atomic.Int64
	f        *os.File
	r        io.Reader
	out      chan<- *event.Chunk
	wake     <-chan struct{}
	stats    *Stats
	log      *slog.Logger
	now      func() time.Time

	start     fileid.Position
	pos       int64 // offset of the next byte to read
	lineStart int64 // offset of the first byte of the current (partial) line
	partial   []byte
	truncated bool         // the partial line has been cut at MaxBytes
	chunk     *event.Chunk // being filled; nil after a flush
	data      []byte       // the chunk's line buffer; never grows in place
	readTime  time.Time
	readLen   int // bytes the last read returned
	// The end of the last line sent downstream and the position after it
	// (sentEnd is -1 before the first send).
	sentEnd int64
	sentPos fileid.Position

	dec        *decoder
	keepBytes  bool // the line's bytes as they are (KeepBytes, UTF-8)
	truncLog   *ratelog.Logger
	bigEndian  bool            // UTF-16 byte order
	prev       byte            // UTF-16: the byte before the data being split
	proc       Processor       // nil without a pipeline
	lastPos    fileid.Position // after the last raw line (with a pipeline)
	lastEvents int             // events in the last chunk sent
	// Raw lines and bytes read since the last chunk was sent.
	readLines int64
	readBytes int64
}

// New returns a harvester for f that starts reading at start. It takes
// ownership of f and closes it when Run returns. wake may be nil; a value on
// it ends an end-of-file wait early.
func New(cfg Config, src *event.Source, f *os.File, start fileid.Position, out chan<- *event.Chunk, wake <-chan struct{}, stats *Stats, log *slog.Logger) *Harvester {
	cfg.Defaults()
	if stats == nil {
		stats = new(Stats)
	}
	h := &Harvester{
		cfg: cfg, src: src, f: f, r: f, out: out, wake: wake, stats: stats, now: time.Now,
		log:   log.With("component", "harvester", "path", src.Path),
		start: start, pos: start.Offset, lineStart: start.Offset, sentEnd: -1,
		dec: cfg.Encoding.decoder(cfg.Encoding.bigEndian), bigEndian: cfg.Encoding.bigEndian,
		keepBytes: cfg.KeepBytes && cfg.Encoding.enc == nil && !cfg.Encoding.utf16,
		truncLog:  ratelog.New(truncatedEvery),
	}
	h.cur.Store(src)
	h.seenSize.Store(-1)
	return h
}

// Position is where a new harvester for the same file resumes: after the
// last complete line sent. Only valid after Run has returned.
func (h *Harvester) Position() fileid.Position {
	p := h.bare(h.lineStart)
	switch {
	case h.sentEnd >= 0 && h.sentEnd == h.lineStart:
		p = h.sentPos
	case h.lineStart == h.start.Offset:
		p = h.start
	}
	if h.proc != nil {
		if pp, ok := h.proc.Pending(); ok && pp.Offset < p.Offset {
			return pp
		}
	}
	return p
}

// bare is a position at off known only by its offset.
func (h *Harvester) bare(off int64) fileid.Position { return h.cfg.Encoding.At(off) }

// Size is the file's size now (compressed, for gzip); safe for concurrent
// use, an error once the file is closed.
func (h *Harvester) Size() (int64, error) {
	fi, err := h.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ReadAt reads the open file's bytes at off (compressed, for gzip); safe
// for concurrent use, an error once the file is closed.
func (h *Harvester) ReadAt(b []byte, off int64) (int, error) { return h.f.ReadAt(b, off) }

// Rewritten reports whether the open file no longer starts with the bytes
// it was fingerprinted by: truncated (and perhaps written again) in a way
// Run has not seen yet. Safe for concurrent use; a read error says nothing
// either way and is reported as true, so a caller waits rather than decides.
func (h *Harvester) Rewritten() bool {
	same, err := h.sameHead(h.Source())
	return err != nil || !same
}

// SeenSize is the file's size when Run last reached its end (compressed,
// for gzip); -1 before. Safe for concurrent use.
func (h *Harvester) SeenSize() int64 { return h.seenSize.Load() }

// Gzip reports whether the file is read through gzip.
func (h *Harvester) Gzip() bool { return h.cfg.Gzip }

// Source is the file this harvester reads.
func (h *Harvester) Source() *event.Source { return h.cur.Load() }

// Run reads the file until ctx is done (returns ctx.Err()) or a close policy
// applies (ErrInactive, ErrRemoved, ErrRenamed, ErrEOF, ErrAbandoned). A
// panic while reading is recovered and returned as ErrPanic, with the
// position after the last line sent. Any other error is a read error. Run
// closes the file.
func (h *Harvester) Run(ctx context.Context) (err error) {
	defer h.f.Close()
	defer h.release()
	defer h.unsent()
	defer func() {
		// A panic (a bug, in a processor say) is this file's failure, not
		// the agent's: the file resumes after the last line sent.
		if v := recover(); v != nil {
			h.stats.Panics.Add(1)
			h.lineStart, h.proc = h.start.Offset, nil
			if h.sentEnd >= 0 {
				h.lineStart = h.sentEnd
			}
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, v, debug.Stack())
		}
	}()
	if err := h.seek(); err != nil {
		return err
	}
	if !h.cfg.Encoding.utf16 && !h.cfg.Gzip {
		h.src.Marks.Add(h.start) // checked by the prospector before it started us
	}
	if h.cfg.CommitStart {
		if err := h.put(ctx, &event.Event{Skip: true, Flags: event.FlagCommit, Offset: h.start.Offset, End: h.start.Offset, Commit: h.start}); err != nil {
			return err
		}
	}
	if h.cfg.Pipeline != nil {
		h.proc = h.cfg.Pipeline(h.src)
		h.lastPos = h.start
	}
	// The read buffer is held only while reading, inside the gate: an
	// idle file, or one waiting its turn, holds none.
	var buf []byte
	done := func() {
		if buf != nil {
			putReadBuffer(buf)
			buf = nil
			h.cfg.Gate.leave()
		}
	}
	defer done()
	waits := 0            // at end of file since the last read
	var atEnd os.FileInfo // the file when last found at its end
	lastRead := h.now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if buf == nil {
			if err := h.cfg.Gate.enter(ctx); err != nil {
				return err
			}
			buf = getReadBuffer(h.cfg.ReadBufferSize)
		}
		n, err := h.r.Read(buf)
		if n > 0 && !h.cfg.Gzip {
			// Truncated and written again while it was read: the bytes
			// this read returned may be the new content's, at the old
			// content's offsets. They are dropped (a copytruncate copy
			// continues from the last line sent) and the file is read
			// again from its start.
			if same, err := h.sameHead(h.src); err != nil {
				return err
			} else if !same {
				h.log.Warn("file truncated and written again while being read, reading from the start", "offset", h.pos)
				if err := h.restart(ctx); err != nil {
					return err
				}
				continue
			}
		}
		if n > 0 {
			h.readLen = n
			h.readTime = h.now()
			lastRead = h.readTime
			waits = 0
			if err := h.split(ctx, buf[:n]); err != nil {
				return err
			}
			// Complete a short fingerprint as soon as the file is long
			// enough, not only at its end: a truncation may come first,
			// and a copy is known by the fingerprint it reports.
			if h.pos >= fileid.FingerprintSize {
				h.growFingerprint()
			}
			if h.cfg.Gate != nil {
				// Hand over what this read filled and give another
				// file its turn.
				if err := h.flush(ctx); err != nil {
					return err
				}
				done()
			}
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", h.src.Path, err)
		}
		// End of file: hand over what was read, then see why nothing came.
		if h.proc != nil {
			h.proc.Expire(h.now())
			if err := h.take(ctx); err != nil {
				return err
			}
		}
		if err := h.flush(ctx); err != nil {
			return err
		}
		if h.cfg.Gzip { // a compressed file is complete
			return h.finish(ctx, ErrEOF)
		}
		fi, err := h.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", h.src.Path, err)
		}
		// Shorter, or longer and about to be read on: look at the
		// content first. At its end it is looked at after the wait.
		if fi.Size() != h.pos {
			if truncated, err := h.wasTruncated(fi.Size()); err != nil {
				return err
			} else if truncated {
				if err := h.restart(ctx); err != nil {
					return err
				}
				continue
			}
		}
		atEnd = fi
		h.seenSize.Store(fi.Size())
		if fi.Size() > h.pos {
			continue // written between the read and the stat
		}
		h.growFingerprint()
		switch {
		case h.cfg.CloseRemoved && removed(fi):
			return h.finish(ctx, ErrRemoved)
		case h.cfg.CloseRenamed && h.renamed(fi):
			return h.complete(ctx, ErrRenamed)
		case h.cfg.CloseEOF:
			return h.complete(ctx, ErrEOF)
		case h.now().Sub(lastRead) >= h.cfg.CloseInactive:
			return h.complete(ctx, ErrInactive)
		}
		wait := backoff.Delay(h.cfg.Backoff, h.cfg.MaxBackoff, waits+1)
		if h.cfg.Watched {
			wait = max(h.cfg.CloseInactive-h.now().Sub(lastRead), time.Millisecond)
		}
		if h.proc != nil {
			if d := h.proc.Deadline(); !d.IsZero() {
				wait = max(min(wait, d.Sub(h.now())), time.Millisecond)
			}
		}
		done()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.wake:
			timer.Stop()
		case <-timer.C:
			waits++
		}
		// Look before reading on: a file truncated and written again while
		// we waited must not be read from the middle of its new content.
		// Its size and mtime as they were at its end say when nothing
		// changed at all (a wake for another reason): no need to look.
		fi, err = h.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", h.src.Path, err)
		}
		if fi.Size() == atEnd.Size() && fi.ModTime().Equal(atEnd.ModTime()) {
			continue
		}
		if truncated, err := h.wasTruncated(fi.Size()); err != nil {
			return err
		} else if truncated {
			if err := h.restart(ctx); err != nil {
				return err
			}
		}
	}
}

// seek positions the reader at the start position.
func (h *Harvester) seek() error {
	if h.cfg.Encoding.utf16 && !h.cfg.Gzip {
		var bom [2]byte
		if n, _ := h.f.ReadAt(bom[:], 0); n == 2 {
			switch bom {
			case [2]byte{0xFF, 0xFE}:
				h.bigEndian = false
			case [2]byte{0xFE, 0xFF}:
				h.bigEndian = true
			}
		}
		h.dec = h.cfg.Encoding.decoder(h.bigEndian)
	}
	if !h.cfg.Gzip {
		if _, err := h.f.Seek(h.pos, io.SeekStart); err != nil {
			return fmt.Errorf("seek %s to %d: %w", h.src.Path, h.pos, err)
		}
		return nil
	}
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", h.src.Path, err)
	}
	zr, err := gzip.NewReader(h.f)
	if err != nil {
		return fmt.Errorf("gzip %s: %w", h.src.Path, err)
	}
	if _, err := io.CopyN(io.Discard, zr, h.pos); err != nil {
		return fmt.Errorf("gzip %s: skip to %d: %w", h.src.Path, h.pos, err)
	}
	h.r = zr
	return nil
}

// finish sends the last line of a file that will not grow, even without its
// newline, and returns why.
func (h *Harvester) finish(ctx context.Context, why error) error {
	if len(h.partial) > 0 {
		if err := h.emit(ctx, h.partial, h.pos); err != nil {
			return err
		}
		h.partial = h.partial[:0]
	}
	return h.complete(ctx, why)
}

// complete sends every event still pending in the pipeline (the harvester
// stops on a close policy, so nobody would complete them) and returns why.
// Only a cancelled context leaves events pending: a new harvester then
// resumes at the start of the oldest.
func (h *Harvester) complete(ctx context.Context, why error) error {
	if err := h.flushPipeline(ctx); err != nil {
		return err
	}
	if err := h.flush(ctx); err != nil {
		return err
	}
	return why
}
