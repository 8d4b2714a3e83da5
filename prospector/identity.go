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

// head fingerprints the first n bytes of the content.
func (c content) head(n int64) (event.FingerprintValue, error) {
	if !c.gz {
		return event.HashHead(c.f, n)
	}
	if _, err := c.f.Seek(0, io.SeekStart); err != nil {
		return event.FingerprintValue{}, err
	}
	zr, err := gzip.NewReader(c.f)
	if err != nil {
		return event.FingerprintValue{}, fmt.Errorf("gzip: %w", err)
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(zr, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return event.FingerprintValue{}, fmt.Errorf("gzip: %w", err)
	}
	return event.HashHead(readerAt(buf[:got]), n)
}

// check verifies a resume position. Decompressed content cannot be read at
// an offset cheaply; its head fingerprint is trusted instead.
func (c content) check(pos event.Position) bool {
	return c.gz || pos.Check(c.f)
}

// copyOf reports whether c, size bytes long, is a copy of the content marks
// were taken in (see event.IsCopy). Decompressed content cannot be read at
// an offset cheaply: its head fingerprint is trusted instead.
func (c content) copyOf(marks []event.Position, size int64) bool {
	return c.gz || event.IsCopy(marks, c.f, size)
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

type readerAt []byte

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r)) {
		return 0, io.EOF
	}
	n := copy(p, r[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

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
