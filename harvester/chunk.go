// The chunk writer: events placed in the chunk being filled, sent
// downstream when full or at end of file (blocking while the spooler is
// full), and the buffers held between reads.

package harvester

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/logship/logship/event"
)

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
	h.chunk, h.data = nil, nil // the chunk's lines are the spooler's now; holding them here kept them past their acknowledgement
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
