package harvester

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logship/logship/event"
)

// Config says how a harvester reads.
type Config struct {
	// MaxBytes is the longest line kept; longer lines are truncated to it,
	// flagged and counted.
	MaxBytes int
	// CloseInactive closes the file when nothing was read for this long.
	CloseInactive time.Duration
	// Backoff is the first wait at end of file; it doubles up to MaxBackoff
	// while the file does not grow. A wake signal ends a wait early.
	Backoff, MaxBackoff time.Duration
	// ReadBufferSize is the size of the file's read buffer.
	ReadBufferSize int
	// ChunkBytes and ChunkEvents bound a chunk sent downstream.
	ChunkBytes, ChunkEvents int
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
}

// Why a harvester stopped.
var (
	ErrInactive = errors.New("closed after close_inactive")
	ErrRemoved  = errors.New("file removed and read to its end")
)

// Harvester reads one open file. It is created by New and run once by Run.
type Harvester struct {
	cfg   Config
	src   *event.Source
	f     *os.File
	out   chan<- *event.Chunk
	wake  <-chan struct{}
	stats *Stats
	log   *slog.Logger
	now   func() time.Time

	pos       int64 // offset of the next byte to read
	lineStart int64 // offset of the first byte of the current (partial) line
	partial   []byte
	truncated bool         // the partial line has been cut at MaxBytes
	chunk     *event.Chunk // being filled; nil after a flush
	data      []byte       // the chunk's line buffer; never grows in place
	readTime  time.Time
}

// New returns a harvester for f, already positioned nowhere in particular:
// Run seeks to offset. It takes ownership of f and closes it when Run returns.
// wake may be nil; a value on it ends an end-of-file wait early.
func New(cfg Config, src *event.Source, f *os.File, offset int64, out chan<- *event.Chunk, wake <-chan struct{}, stats *Stats, log *slog.Logger) *Harvester {
	cfg.Defaults()
	if stats == nil {
		stats = new(Stats)
	}
	return &Harvester{
		cfg: cfg, src: src, f: f, out: out, wake: wake, stats: stats, now: time.Now,
		log: log.With("component", "harvester", "path", src.Path),
		pos: offset, lineStart: offset,
	}
}

// Offset is the end of the last complete line read: where a new harvester for
// the same file resumes. Only valid after Run has returned.
func (h *Harvester) Offset() int64 { return h.lineStart }

// Source is the file this harvester reads.
func (h *Harvester) Source() *event.Source { return h.src }

// Run reads the file until ctx is done (returns ctx.Err()), the file was not
// written for close_inactive (ErrInactive), or it was removed and read to its
// end (ErrRemoved). Any other error is a read error. Run closes the file.
func (h *Harvester) Run(ctx context.Context) error {
	defer h.f.Close()
	defer h.unsent()
	if _, err := h.f.Seek(h.pos, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s to %d: %w", h.src.Path, h.pos, err)
	}
	buf := make([]byte, h.cfg.ReadBufferSize)
	backoff := h.cfg.Backoff
	lastRead := h.now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		n, err := h.f.Read(buf)
		if n > 0 {
			h.readTime = h.now()
			lastRead = h.readTime
			backoff = h.cfg.Backoff
			if err := h.split(ctx, buf[:n]); err != nil {
				return err
			}
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", h.src.Path, err)
		}
		// End of file: hand over what was read, then see why nothing came.
		if err := h.flush(ctx); err != nil {
			return err
		}
		fi, err := h.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", h.src.Path, err)
		}
		switch {
		case fi.Size() < h.pos:
			h.log.Warn("file truncated, reading from the start", "size", fi.Size(), "offset", h.pos)
			if _, err := h.f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("seek %s: %w", h.src.Path, err)
			}
			h.pos, h.lineStart, h.partial, h.truncated = 0, 0, h.partial[:0], false
			continue
		case fi.Size() > h.pos:
			continue // written between the read and the stat
		case removed(fi):
			if len(h.partial) > 0 {
				// Nobody can add the newline to a deleted file's last line.
				if err := h.emit(ctx, h.partial, h.pos); err != nil {
					return err
				}
				h.partial = h.partial[:0]
			}
			if err := h.flush(ctx); err != nil {
				return err
			}
			return ErrRemoved
		case h.now().Sub(lastRead) >= h.cfg.CloseInactive:
			return ErrInactive
		}
		timer.Reset(backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.wake:
			timer.Stop()
		case <-timer.C:
			backoff = min(2*backoff, h.cfg.MaxBackoff)
		}
	}
}

func removed(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// split cuts data into lines; bytes after the last newline stay partial.
func (h *Harvester) split(ctx context.Context, data []byte) error {
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
		if h.chunkFull() {
			if err := h.flush(ctx); err != nil {
				return err
			}
		}
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

// emit adds a complete line ending (after its newline) at end to the chunk.
func (h *Harvester) emit(ctx context.Context, line []byte, end int64) error {
	truncated := h.truncated
	if len(line) > h.cfg.MaxBytes {
		line, truncated = line[:h.cfg.MaxBytes], true
	}
	if !truncated && len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if h.chunk != nil && len(h.data)+len(line) > cap(h.data) {
		if err := h.flush(ctx); err != nil {
			return err
		}
	}
	c := h.chunk
	if c == nil {
		// A new buffer for every chunk rather than a reused one: the
		// lines of a sent chunk live until Kafka acknowledges them.
		c = &event.Chunk{Events: make([]event.Event, 0, h.cfg.ChunkEvents)}
		h.chunk, h.data = c, make([]byte, 0, max(h.cfg.ChunkBytes, len(line)))
	}
	start := len(h.data)
	h.data = append(h.data, line...)
	c.Events = append(c.Events, event.Event{
		Source: h.src, Line: h.data[start:len(h.data):len(h.data)],
		Offset: h.lineStart, End: end, Time: h.readTime, Truncated: truncated,
	})
	c.Bytes += len(line)
	h.lineStart = end
	if truncated {
		h.stats.Truncated.Add(1)
		h.log.Warn("line truncated", "offset", c.Events[len(c.Events)-1].Offset, "max_bytes", h.cfg.MaxBytes)
	}
	return nil
}

func (h *Harvester) chunkFull() bool {
	return h.chunk != nil && (len(h.chunk.Events) >= h.cfg.ChunkEvents || h.chunk.Bytes >= h.cfg.ChunkBytes)
}

// flush sends the pending chunk downstream, blocking while the spooler is full.
func (h *Harvester) flush(ctx context.Context) error {
	c := h.chunk
	if c == nil || len(c.Events) == 0 {
		return nil
	}
	h.chunk = nil
	lines := int64(len(c.Events))
	bytes := c.Events[len(c.Events)-1].End - c.Events[0].Offset
	select {
	case h.out <- c:
		h.stats.Lines.Add(lines)
		h.stats.Bytes.Add(bytes)
		return nil
	case <-ctx.Done():
		h.chunk = c
		return ctx.Err()
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
