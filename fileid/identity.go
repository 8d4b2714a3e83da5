package fileid

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ID is a file's identity on this host.
type ID struct {
	Dev, Ino uint64
}

// String is "DEV:INO", the registry's key.
func (id ID) String() string { return fmt.Sprintf("%d:%d", id.Dev, id.Ino) }

// Of is the identity of the file fi describes.
func Of(fi os.FileInfo) (ID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ID{}, errors.New("no device and inode for this file")
	}
	return ID{Dev: uint64(st.Dev), Ino: st.Ino}, nil //nolint:unconvert // Dev is int32 on some platforms
}

// Content reads a file's content: the bytes themselves, or, for a gzip file,
// what it decompresses to.
type Content struct {
	F  *os.File
	Gz bool // read through gzip
}

// Head reads the first n bytes of the content (fewer if it is shorter).
func (c Content) Head(n int64) (*Head, error) {
	buf := make([]byte, n)
	if !c.Gz {
		got, err := c.F.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return nil, err
		}
		return NewHead(buf[:got]), nil
	}
	if _, err := c.F.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(c.F)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	got, err := io.ReadFull(zr, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return NewHead(buf[:got]), nil
}

// Head is the first bytes of a file's content, read once, and their
// fingerprint. Comparing it with the fingerprint of a shorter file hashes a
// prefix of these bytes: no more reading.
type Head struct {
	b    []byte
	Full FingerprintValue // of every byte read
}

// NewHead is the head b, the first bytes of a content.
func NewHead(b []byte) *Head { return &Head{b: b, Full: HashBytes(b)} }

// Prefix is the fingerprint of the first n bytes; false when the content
// is shorter.
func (h *Head) Prefix(n int64) (FingerprintValue, bool) {
	switch {
	case n > h.Full.Len:
		return FingerprintValue{}, false
	case n == h.Full.Len:
		return h.Full, true
	}
	return HashBytes(h.b[:n]), true
}

// StartsWith reports whether the content starts with the content
// fingerprinted as fp.
func (h *Head) StartsWith(fp FingerprintValue) bool {
	got, ok := h.Prefix(fp.Len)
	return ok && fp.Len > 0 && got == fp
}

// Check verifies a resume position. Decompressed content cannot be read at
// an offset cheaply; its head fingerprint is trusted instead.
func (c Content) Check(pos Position) bool {
	return c.Gz || pos.Check(c.F)
}

// ResumeCopy is where c, size bytes long and shorter than what was read of
// the content marks were taken in, resumes if it is a copy of it (see
// ResumeCopy).
func (c Content) ResumeCopy(marks []Position, size int64) (Position, bool) {
	return ResumeCopy(marks, c.F, size)
}

// SameBytes reports whether a and b hold the same bytes before n, of which
// the last compareTail are compared (the heads were compared already). A
// read error is no proof: false.
func SameBytes(a, b io.ReaderAt, n int64) bool {
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

// IsGzip reports whether f starts with the gzip magic bytes.
func IsGzip(f *os.File) bool {
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// GzipComplete reports whether f holds a whole gzip stream, trailer
// included. A compressed file still being written must not be read: its
// content cannot be matched to what was read before, nor read to its end.
func GzipComplete(f *os.File) bool {
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
