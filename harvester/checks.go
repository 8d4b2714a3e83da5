// File checks: whether the open file is still the content read so far
// (truncation, a rewritten head, rename, removal), and starting over when
// it is not.

package harvester

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

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
	same, err := h.sameHead(h.src)
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
func (h *Harvester) sameHead(src *event.Source) (bool, error) {
	same, err := fileid.StartsWith(h.f, src.Fingerprint.Load())
	if err != nil {
		return false, fmt.Errorf("read %s: %w", src.Path, err)
	}
	return same, nil
}

// restart reads the file again from its start after a truncation. Events
// pending in the pipeline were read before it; they are sent, and only then
// is the old content's position offered to OnTruncate: a copy of it that
// starts there then commits behind every line of the original.
func (h *Harvester) restart(ctx context.Context) error {
	if err := h.flushPipeline(ctx); err != nil {
		return err
	}
	if err := h.flush(ctx); err != nil {
		return err
	}
	readTo := h.Position()
	if h.cfg.OnTruncate != nil {
		h.cfg.OnTruncate(h.src, readTo)
	}
	h.lastPos = fileid.Position{}
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", h.src.Path, err)
	}
	h.pos, h.lineStart, h.partial, h.truncated = 0, 0, h.partial[:0], false
	h.start, h.sentEnd = fileid.Position{}, -1
	// New content, a new Source: the offsets of lines read before, still
	// in flight, are committed with the fingerprint they belong to.
	fp, err := fileid.HashHead(h.f, fileid.FingerprintSize)
	if err != nil {
		return fmt.Errorf("read %s: %w", h.src.Path, err)
	}
	src := h.src.Renewed(readTo)
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
	if h.cfg.Gzip || fp.Len >= fileid.FingerprintSize || h.pos <= fp.Len {
		return
	}
	if v, err := fileid.HashHead(h.f, fileid.FingerprintSize); err == nil {
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
