package prospector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/logship/logship/event"
)

// fileID is a file's identity on this host.
type fileID struct {
	dev, ino uint64
}

func (id fileID) String() string { return fmt.Sprintf("%d:%d", id.dev, id.ino) }

func identity(fi os.FileInfo) (fileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("no device and inode for this file")
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, nil //nolint:unconvert // Dev is int32 on some platforms
}

// content reads a file's content: the bytes themselves, or, for a gzip file,
// what it decompresses to.
type content struct {
	f  *os.File
	gz bool
}

// head reads the first n bytes of the content (fewer if it is shorter).
func (c content) head(n int64) (*head, error) {
	buf := make([]byte, n)
	if !c.gz {
		got, err := c.f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return nil, err
		}
		return newHead(buf[:got]), nil
	}
	if _, err := c.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(c.f)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	got, err := io.ReadFull(zr, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return newHead(buf[:got]), nil
}

// head is the first bytes of a file's content, read once, and their
// fingerprint. Comparing it with the fingerprint of a shorter file hashes a
// prefix of these bytes: no more reading.
type head struct {
	b    []byte
	full event.FingerprintValue
}

func newHead(b []byte) *head { return &head{b: b, full: event.HashBytes(b)} }

// prefix is the fingerprint of the first n bytes; false when the content
// is shorter.
func (h *head) prefix(n int64) (event.FingerprintValue, bool) {
	switch {
	case n > h.full.Len:
		return event.FingerprintValue{}, false
	case n == h.full.Len:
		return h.full, true
	}
	return event.HashBytes(h.b[:n]), true
}

// startsWith reports whether the content starts with the content
// fingerprinted as fp.
func (h *head) startsWith(fp event.FingerprintValue) bool {
	got, ok := h.prefix(fp.Len)
	return ok && fp.Len > 0 && got == fp
}

// check verifies a resume position. Decompressed content cannot be read at
// an offset cheaply; its head fingerprint is trusted instead.
func (c content) check(pos event.Position) bool {
	return c.gz || pos.Check(c.f)
}

// resumeCopy is where c, size bytes long and shorter than what was read of
// the content marks were taken in, resumes if it is a copy of it (see
// event.ResumeCopy).
func (c content) resumeCopy(marks []event.Position, size int64) (event.Position, bool) {
	return event.ResumeCopy(marks, c.f, size)
}

// sameBytes reports whether a and b hold the same bytes before n, of which
// the last compareTail are compared (the heads were compared already). A
// read error is no proof: false.
func sameBytes(a, b io.ReaderAt, n int64) bool {
	from := max(0, n-compareTail)
	x, y := make([]byte, n-from), make([]byte, n-from)
	if _, err := a.ReadAt(x, from); err != nil {
		return false
	}
	if _, err := b.ReadAt(y, from); err != nil {
		return false
	}
	return bytes.Equal(x, y)
}

// compareTail is how many bytes sameBytes compares.
const compareTail = 4096

// isGzip reports whether f starts with the gzip magic bytes.
func isGzip(f *os.File) bool {
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// gzipComplete reports whether f holds a whole gzip stream, trailer
// included. A compressed file still being written must not be read: its
// content cannot be matched to what was read before, nor read to its end.
func gzipComplete(f *os.File) bool {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, zr)
	return err == nil
}
