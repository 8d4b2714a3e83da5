package harvester

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/internal/backoff"
	"github.com/logship/logship/internal/ratelog"
)

// Config says how a harvester reads.
type Config struct {
	// MaxBytes is the longest line kept; longer lines are truncated to it,
	// flagged and counted.
	MaxBytes int
	// CloseInactive closes the file when nothing was read for this long.
	CloseInactive time.Duration
	// CloseEOF closes the file as soon as its end is reached.
	CloseEOF bool
	// CloseRenamed closes the file at its end once its path no longer
	// leads to it.
	CloseRenamed bool
	// CloseRemoved closes the file at its end once it has been deleted.
	CloseRemoved bool
	// CloseRemovedAfter gives up on a deleted file that could not be sent
	// downstream for this long (the output is stuck), so that it stops
	// holding disk space; its unread bytes are counted and logged. Zero
	// means never.
	CloseRemovedAfter time.Duration
	// Gzip reads the file through gzip; it is read once, to its end.
	Gzip bool
	// Backoff is the first wait at end of file; it doubles up to MaxBackoff
	// while the file does not grow. A wake signal ends a wait early.
	Backoff, MaxBackoff time.Duration
	// ReadBufferSize is the size of the file's read buffer.
	ReadBufferSize int
	// ChunkBytes and ChunkEvents bound a chunk sent downstream.
	ChunkBytes, ChunkEvents int
	// OnTruncate, if set, is called when the file is found truncated, with
	// the fingerprint its content had, how far it had been read and the
	// marks taken in it: a copy of that content (copytruncate) can then be
	// read from there.
	OnTruncate func(fp event.FingerprintValue, pos event.Position, marks []event.Position)
	// Encoding decodes the file's lines to UTF-8.
	Encoding Encoding
	// KeepBytes ships a UTF-8 file's lines as they are written, invalid
	// UTF-8 included, rather than repaired and flagged (codec raw).
	KeepBytes bool
	// Pipeline, if set, makes the processor that shapes this file's lines
	// into events (multiline, container formats, parsers, filters,
	// processors). Without one, each line is an event as it is.
	Pipeline func(*event.Source) Processor
}

// Processor shapes the raw lines of one file into events. It is used by its
// harvester's goroutine only.
type Processor interface {
	// Line takes the next raw line. Line.Text is valid during the call.
	Line(l *event.Raw)
	// Expire completes pending events that waited past their timeout at
	// now; Flush completes every pending event (the file will not grow, or
	// was truncated).
	Expire(now time.Time)
	Flush()
	// Deadline is when Expire next has work; zero when nothing pends.
	Deadline() time.Time
	// Pending is the position before the oldest line not yet in an event
	// returned by Events, if there is one: reading resumes there.
	Pending() (event.Position, bool)
	// Events returns the events completed since the last call, in file
	// order. They and the memory their Lines point to are valid until the
	// next call of any method.
	Events() []event.Event
}

// Defaults fills zero fields with their defaults.
func (c *Config) Defaults() {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.CloseInactive <= 0 {
		c.CloseInactive = 5 * time.Minute
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(time.Second, c.Backoff)
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 64 << 10
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 64 << 10
	}
	if c.ChunkEvents <= 0 {
		c.ChunkEvents = 512
	}
}

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
	cfg   Config
	src   *event.Source // owned by Run; cur is the same for other goroutines
	cur   atomic.Pointer[event.Source]
	f     *os.File
	r     io.Reader
	out   chan<- *event.Chunk
	wake  <-chan struct{}
	stats *Stats
	log   *slog.Logger
	now   func() time.Time

	start     event.Position
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
	sentPos event.Position

	dec        *decoder
	keepBytes  bool // the line's bytes as they are (KeepBytes, UTF-8)
	truncLog   *ratelog.Logger
	bigEndian  bool           // UTF-16 byte order
	prev       byte           // UTF-16: the byte before the data being split
	proc       Processor      // nil without a pipeline
	lastPos    event.Position // after the last raw line (with a pipeline)
	lastEvents int            // events in the last chunk sent
	// Raw lines and bytes read since the last chunk was sent.
	readLines int64
	readBytes int64
}

// New returns a harvester for f that starts reading at start. It takes
// ownership of f and closes it when Run returns. wake may be nil; a value on
// it ends an end-of-file wait early.
func New(cfg Config, src *event.Source, f *os.File, start event.Position, out chan<- *event.Chunk, wake <-chan struct{}, stats *Stats, log *slog.Logger) *Harvester {
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
	return h
}

// Position is where a new harvester for the same file resumes: after the
// last complete line sent. Only valid after Run has returned.
func (h *Harvester) Position() event.Position {
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
func (h *Harvester) bare(off int64) event.Position { return h.cfg.Encoding.At(off) }

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
	if h.cfg.Pipeline != nil {
		h.proc = h.cfg.Pipeline(h.src)
		h.lastPos = h.start
	}
	// The read buffer is held only while reading: an idle file waits
	// without one.
	var buf []byte
	defer func() { putReadBuffer(buf) }()
	waits := 0 // at end of file since the last read
	lastRead := h.now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if buf == nil {
			buf = getReadBuffer(h.cfg.ReadBufferSize)
		}
		n, err := h.r.Read(buf)
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
			if h.pos >= event.FingerprintSize {
				h.growFingerprint()
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
		if truncated, err := h.wasTruncated(fi.Size()); err != nil {
			return err
		} else if truncated {
			if err := h.restart(ctx); err != nil {
				return err
			}
			continue
		}
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
		if h.proc != nil {
			if d := h.proc.Deadline(); !d.IsZero() {
				wait = max(min(wait, d.Sub(h.now())), time.Millisecond)
			}
		}
		putReadBuffer(buf)
		buf = nil
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
		fi, err = h.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", h.src.Path, err)
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

// wasTruncated reports whether the file is no longer the one read up to
// pos: shorter than pos, or different in the bytes before the last line end
// or in its head. An error reading it says neither: it is returned.
func (h *Harvester) wasTruncated(size int64) (bool, error) {
	if size < h.pos {
		h.log.Warn("file truncated, reading from the start", "size", size, "offset", h.pos)
		return true, nil
	}
	if h.lineStart == 0 {
		return false, nil
	}
	same, err := h.sameHead()
	if err != nil {
		return false, err
	}
	if !same || !h.Position().Check(h.f) {
		h.log.Warn("file truncated and written again, reading from the start", "size", size, "offset", h.pos)
		return true, nil
	}
	return false, nil
}

// sameHead reports whether the file still starts with the bytes it was
// fingerprinted by.
func (h *Harvester) sameHead() (bool, error) {
	fp := h.src.Fingerprint.Load()
	if fp.Len == 0 {
		return true, nil
	}
	now, err := event.HashHead(h.f, fp.Len)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", h.src.Path, err)
	}
	return now == fp, nil
}

// restart reads the file again from its start after a truncation. Events
// pending in the pipeline were read before it; they are sent.
func (h *Harvester) restart(ctx context.Context) error {
	if h.cfg.OnTruncate != nil {
		h.cfg.OnTruncate(h.src.Fingerprint.Load(), h.Position(), h.src.Marks.Snapshot())
	}
	if err := h.flushPipeline(ctx); err != nil {
		return err
	}
	h.lastPos = event.Position{}
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", h.src.Path, err)
	}
	h.pos, h.lineStart, h.partial, h.truncated = 0, 0, h.partial[:0], false
	h.start, h.sentEnd = event.Position{}, -1
	// New content, a new Source: the offsets of lines read before, still
	// in flight, are committed with the fingerprint they belong to.
	fp, err := event.HashHead(h.f, event.FingerprintSize)
	if err != nil {
		return fmt.Errorf("read %s: %w", h.src.Path, err)
	}
	src := h.src.Renewed()
	// The new content's fingerprint at once: a copy of it must be told
	// from new content from now on.
	src.Fingerprint.Store(fp)
	h.src = src
	h.cur.Store(src)
	// The new content is delivered up to its start: committed once what
	// was sent before is, so the registry never keeps the old content's
	// offset for it (nothing may be written to it for a long while).
	return h.put(ctx, &event.Event{Skip: true, Flags: event.FlagCommit})
}

// growFingerprint extends the fingerprint while the file was shorter than
// the fingerprint size when it was taken.
func (h *Harvester) growFingerprint() {
	fp := h.src.Fingerprint.Load()
	if h.cfg.Gzip || fp.Len >= event.FingerprintSize || h.pos <= fp.Len {
		return
	}
	if v, err := event.HashHead(h.f, event.FingerprintSize); err == nil {
		h.src.Fingerprint.Store(v)
	}
}

func removed(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// renamed reports whether the harvester's path now leads elsewhere.
func (h *Harvester) renamed(fi os.FileInfo) bool {
	pfi, err := os.Stat(h.src.Path)
	return err != nil || !os.SameFile(fi, pfi)
}

// split cuts data into lines; bytes after the last newline stay partial.
func (h *Harvester) split(ctx context.Context, data []byte) error {
	if h.cfg.Encoding.utf16 {
		return h.split16(ctx, data)
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			h.hold(data)
			h.pos += int64(len(data))
			return nil
		}
		h.pos += int64(i + 1)
		var err error
		if len(h.partial) == 0 && !h.truncated {
			err = h.emit(ctx, data[:i], h.pos)
		} else {
			h.hold(data[:i])
			err = h.emit(ctx, h.partial, h.pos)
			h.partial, h.truncated = h.partial[:0], false
		}
		if err != nil {
			return err
		}
		data = data[i+1:]
	}
	return nil
}

// hold appends to the partial line, keeping at most MaxBytes.
func (h *Harvester) hold(p []byte) {
	room := h.cfg.MaxBytes - len(h.partial)
	if len(p) > room {
		p = p[:max(room, 0)]
		h.truncated = true
	}
	h.partial = append(h.partial, p...)
}

// emit adds a complete raw line ending (after its newline) at end: as an
// event to the chunk, or to the pipeline.
func (h *Harvester) emit(ctx context.Context, line []byte, end int64) error {
	truncated := h.truncated
	if len(line) > h.cfg.MaxBytes {
		line, truncated = line[:h.cfg.MaxBytes], true
	}
	nl := 1
	if h.cfg.Encoding.utf16 {
		nl = 2
		line = line[:len(line)&^1]
	}
	if !truncated && len(line) >= nl && h.isCR(line[len(line)-nl:]) {
		line = line[:len(line)-nl]
	}
	text := line
	if h.lineStart == 0 { // a byte-order mark is not text
		if h.cfg.Encoding.utf16 && len(text) >= 2 && (text[0] == 0xFF && text[1] == 0xFE || text[0] == 0xFE && text[1] == 0xFF) {
			text = text[2:]
		} else if h.cfg.Encoding.enc == nil && bytes.HasPrefix(text, utf8BOM) {
			text = text[len(utf8BOM):]
		}
	}
	invalid := false
	if !h.keepBytes {
		text, invalid = h.dec.decode(text)
	}
	var flags event.Flag
	if invalid {
		flags |= event.FlagInvalidUTF8
	}
	h.readLines++
	h.readBytes += end - h.lineStart
	if h.proc != nil {
		raw := event.Raw{Text: text, Offset: h.lineStart, End: end, Before: h.lastPos, After: h.positionAfter(line, end, truncated),
			Truncated: truncated, Flags: flags, Time: h.readTime}
		h.lastPos = raw.After
		h.lineStart = end
		h.proc.Line(&raw)
		return h.take(ctx)
	}
	if len(text) != len(line) || len(line) > 0 && &text[0] != &line[0] {
		// The text is not the file's bytes: the position is taken from these.
		e := event.Event{Line: text, Offset: h.lineStart, End: end, Time: h.readTime, Truncated: truncated,
			Flags: flags | event.FlagCommit, Commit: h.positionAfter(line, end, truncated)}
		h.lineStart = end
		return h.put(ctx, &e)
	}
	// The common case, built in place: this is the hot path.
	c, dst, err := h.room(ctx, len(text))
	if err != nil {
		return err
	}
	copy(dst, text)
	c.Events = append(c.Events, event.Event{
		Source: h.src, Line: dst, Offset: h.lineStart, End: end, Time: h.readTime, Truncated: truncated,
	})
	h.lineStart = end
	if truncated {
		h.truncatedLine(c.Events[len(c.Events)-1].Offset)
	}
	return h.chunkFullFlush(ctx)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// positionAfter is the position after a raw line (its bytes as in the
// file, without newline) that ends at end.
func (h *Harvester) positionAfter(line []byte, end int64, truncated bool) event.Position {
	if h.cfg.Encoding.utf16 { // its tail cannot be checked byte for byte
		return h.bare(end)
	}
	return event.PositionAfterLine(line, end, truncated)
}

// isCR reports whether b (one newline's width) is a carriage return.
func (h *Harvester) isCR(b []byte) bool {
	switch {
	case len(b) == 1:
		return b[0] == '\r'
	case h.bigEndian:
		return b[0] == 0 && b[1] == '\r'
	default:
		return b[0] == '\r' && b[1] == 0
	}
}

// flushPipeline completes every event pending in the pipeline, if any,
// and puts them into the chunk.
func (h *Harvester) flushPipeline(ctx context.Context) error {
	if h.proc == nil {
		return nil
	}
	h.proc.Flush()
	return h.take(ctx)
}

// take puts the events the pipeline completed into the chunk.
func (h *Harvester) take(ctx context.Context) error {
	for _, e := range h.proc.Events() {
		if err := h.put(ctx, &e); err != nil {
			return err
		}
	}
	return nil
}

// put adds an event to the chunk, copying its line into the chunk's
// buffer. Consecutive skip events of the file become one.
func (h *Harvester) put(ctx context.Context, e *event.Event) error {
	if e.Skip && h.chunk != nil {
		if n := len(h.chunk.Events); n > 0 && h.chunk.Events[n-1].Skip {
			last := &h.chunk.Events[n-1]
			last.End, last.Commit = e.End, event.PositionAfter(e)
			last.Flags |= event.FlagCommit
			return nil
		}
	}
	c, dst, err := h.room(ctx, len(e.Line))
	if err != nil {
		return err
	}
	copy(dst, e.Line)
	c.Events = append(c.Events, *e)
	last := &c.Events[len(c.Events)-1]
	last.Source, last.Line = h.src, dst
	c.Bytes += int(e.DocSize)
	if e.Truncated {
		h.truncatedLine(e.Offset)
	}
	return h.chunkFullFlush(ctx)
}

// room makes room in the chunk for an event with a line of n bytes and
// returns the chunk and the line's place in its buffer. A full chunk is
// sent first, which may fail (see flush).
func (h *Harvester) room(ctx context.Context, n int) (*event.Chunk, []byte, error) {
	if h.chunk != nil && len(h.data)+n > cap(h.data) {
		if h.chunk.Bytes+n > h.cfg.ChunkBytes {
			if err := h.flush(ctx); err != nil {
				return nil, nil, err
			}
		} else {
			// A further buffer for the chunk's next lines: the lines
			// placed already keep theirs, which never moves.
			h.data = make([]byte, 0, max(n, min(2*cap(h.data), h.cfg.ChunkBytes-h.chunk.Bytes)))
		}
	}
	c := h.chunk
	if c == nil {
		// A new buffer for every chunk rather than a reused one: the
		// lines of a sent chunk live until Kafka acknowledges them.
		// Sized like the last chunk (and a little more), or to the read
		// at hand, so a file of long lines does not allocate room for
		// ChunkEvents short ones, nor a file written a line at a time
		// room for ChunkBytes.
		size := min(h.cfg.ChunkEvents, 16)
		if h.lastEvents > 0 {
			size = min(h.cfg.ChunkEvents, h.lastEvents+h.lastEvents/8+8)
		}
		c = &event.Chunk{Events: make([]event.Event, 0, size)}
		h.chunk, h.data = c, make([]byte, 0, max(n, min(h.cfg.ChunkBytes, h.readLen)))
	}
	start := len(h.data)
	h.data = h.data[:start+n]
	c.Bytes += n
	return c, h.data[start : start+n : start+n], nil
}

func (h *Harvester) truncatedLine(offset int64) {
	h.stats.Truncated.Add(1)
	h.truncLog.Log(h.log, slog.LevelWarn, "line truncated", "offset", offset, "max_bytes", h.cfg.MaxBytes)
}

// truncatedEvery is how often a file's truncated lines are logged; all are
// counted.
const truncatedEvery = 10 * time.Second

// chunkFullFlush sends the chunk once it is full.
func (h *Harvester) chunkFullFlush(ctx context.Context) error {
	if h.chunkFull() {
		return h.flush(ctx)
	}
	return nil
}

func (h *Harvester) chunkFull() bool {
	return h.chunk != nil && (len(h.chunk.Events) >= h.cfg.ChunkEvents || h.chunk.Bytes >= h.cfg.ChunkBytes)
}

// flush sends the pending chunk downstream, blocking while the spooler is
// full. A deleted file that stays blocked for close_removed_after is given up.
func (h *Harvester) flush(ctx context.Context) error {
	c := h.chunk
	if c == nil || len(c.Events) == 0 {
		return nil
	}
	select {
	case h.out <- c:
		h.sent(c)
		return nil
	default:
	}
	var guard <-chan time.Time
	if h.cfg.CloseRemovedAfter > 0 {
		t := time.NewTicker(max(h.cfg.CloseRemovedAfter/10, 100*time.Millisecond))
		defer t.Stop()
		guard = t.C
	}
	blockedSince := h.now()
	for {
		select {
		case h.out <- c:
			h.sent(c)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-guard:
			fi, err := h.f.Stat()
			if err != nil || !removed(fi) || h.now().Sub(blockedSince) < h.cfg.CloseRemovedAfter {
				continue
			}
			unread := fi.Size() - c.Events[0].Offset
			h.stats.Abandoned.Add(unread)
			h.log.Error("deleted file given up: output blocked for close_removed_after, its unread bytes are lost",
				"unread_bytes", unread, "close_removed_after", h.cfg.CloseRemovedAfter)
			return ErrAbandoned
		}
	}
}

func (h *Harvester) sent(c *event.Chunk) {
	h.chunk = nil
	h.lastEvents = len(c.Events)
	last := &c.Events[len(c.Events)-1]
	h.sentEnd, h.sentPos = last.End, event.PositionAfter(last)
	if !h.cfg.Encoding.utf16 && !h.cfg.Gzip { // positions checked byte for byte only
		h.src.Marks.Add(h.sentPos)
	}
	h.stats.Lines.Add(h.readLines)
	h.stats.Bytes.Add(h.readBytes)
	h.readLines, h.readBytes = 0, 0
}

// release drops the buffers a stopped harvester no longer needs; it keeps
// only what Position reads.
func (h *Harvester) release() {
	h.partial, h.data, h.chunk = nil, nil, nil
}

// readBuffers holds read buffers between reads, so that idle files share
// them rather than holding one each.
var readBuffers sync.Pool

func getReadBuffer(size int) []byte {
	if b, ok := readBuffers.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:size]
	}
	return make([]byte, size)
}

func putReadBuffer(b []byte) {
	if b != nil {
		readBuffers.Put(&b)
	}
}

// unsent moves the resume offset back over lines read but never sent, so a
// new harvester reads them again.
func (h *Harvester) unsent() {
	if h.chunk != nil && len(h.chunk.Events) > 0 {
		h.lineStart = h.chunk.Events[0].Offset
		h.chunk = nil
	}
}

// split16 is split for UTF-16, whose newline is two bytes at an even
// offset. The line goes through the partial buffer.
func (h *Harvester) split16(ctx context.Context, data []byte) error {
	lo, hi := byte('\n'), byte(0) // the newline's bytes in file order
	if h.bigEndian {
		lo, hi = 0, '\n'
	}
	for len(data) > 0 {
		i := -1
		j := 0
		if h.pos&1 == 0 { // the newline's second byte is at an odd offset
			j = 1
		}
		for ; j < len(data); j += 2 {
			prev := h.prev
			if j > 0 {
				prev = data[j-1]
			}
			if prev == lo && data[j] == hi {
				i = j
				break
			}
		}
		if i < 0 {
			h.prev = data[len(data)-1]
			h.hold(data)
			h.pos += int64(len(data))
			return nil
		}
		h.prev = data[i]
		h.pos += int64(i + 1)
		h.hold(data[:i+1])
		line := h.partial
		if !h.truncated {
			line = line[:max(len(line)-2, 0)]
		}
		err := h.emit(ctx, line, h.pos)
		h.partial, h.truncated = h.partial[:0], false
		if err != nil {
			return err
		}
		data = data[i+1:]
	}
	return nil
}
