// Line splitting: raw bytes to lines (UTF-8 and UTF-16 newlines, partial
// lines held, max_bytes), decoded and handed to the chunk or the pipeline.

package harvester

import (
	"bytes"
	"context"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

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
func (h *Harvester) positionAfter(line []byte, end int64, truncated bool) fileid.Position {
	if h.cfg.Encoding.utf16 { // its tail cannot be checked byte for byte
		return h.bare(end)
	}
	return fileid.PositionAfterLine(line, end, truncated)
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
