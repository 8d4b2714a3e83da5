package prospector

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"syscall"
)

// FingerprintSize is how many of a file's first bytes identify its content.
const FingerprintSize = 1024

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

// fingerprint hashes the first n bytes of f (fewer if the file is shorter)
// and returns the hash and how many bytes it covers.
func fingerprint(f *os.File, n int64) (uint64, int64, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return 0, 0, err
	}
	h := fnv.New64a()
	h.Write(buf[:got])
	return h.Sum64(), int64(got), nil
}
