package fileid

import (
	"hash/fnv"
	"io"
	"sync/atomic"
)

// TailSize is how many bytes before an offset the tail hash covers.
const TailSize = 64

// FingerprintSize is how many of a file's first bytes identify its content.
const FingerprintSize = 1024

// Position is a place in a file that can be checked on resume: the offset
// just after a newline, and a hash of the line content before it.
type Position struct {
	Offset int64
	// TailHash hashes the last TailLen bytes of the line that ends at
	// Offset, without its "\n" (and a "\r" before it). TailLen is -1 when
	// that line was truncated and only the newline can be checked.
	TailHash uint64
	TailLen  int
}

// TailLen values that check less than a line's tail.
const (
	// TailNewline checks only that a newline ends before the offset.
	TailNewline = -1
	// TailUnchecked checks only that the file reaches the offset: for
	// encodings whose newline is not the byte '\n' (UTF-16).
	TailUnchecked = -2
)

// PositionAfterLine is the position after a raw line (without its newline
// and '\r') that ends at end.
func PositionAfterLine(line []byte, end int64, truncated bool) Position {
	if truncated {
		return Position{Offset: end, TailLen: TailNewline}
	}
	tail := line[max(0, len(line)-TailSize):]
	return Position{Offset: end, TailHash: hash(tail), TailLen: len(tail)}
}

func hash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// Check reports whether the bytes of f before p.Offset are still the line
// p was taken after: a file that was truncated and written again past the
// offset fails it. Offset 0 always passes.
func (p Position) Check(f io.ReaderAt) bool {
	if p.Offset <= 0 {
		return p.Offset == 0
	}
	n := int64(TailSize + 2)
	start := max(0, p.Offset-n)
	buf := make([]byte, p.Offset-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return false
	}
	if p.TailLen == TailUnchecked {
		return true
	}
	if buf[len(buf)-1] != '\n' {
		return false
	}
	if p.TailLen < 0 {
		return true
	}
	line := buf[:len(buf)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) < p.TailLen {
		// Fewer bytes than hashed: only possible when the line started at
		// the file's start.
		if start != 0 {
			return false
		}
	}
	return hash(line[max(0, len(line)-p.TailLen):]) == p.TailHash
}

// Fingerprint identifies a file's content by its first bytes. It is shared
// between the harvester (which extends it while the file is shorter than
// the fingerprint size) and the registry (which records it); safe for
// concurrent use.
type Fingerprint struct {
	v atomic.Pointer[FingerprintValue]
}

// FingerprintValue is a hash of a file's first Len bytes.
type FingerprintValue struct {
	Hash uint64
	Len  int64
}

// Load returns the current value.
func (f *Fingerprint) Load() FingerprintValue {
	if v := f.v.Load(); v != nil {
		return *v
	}
	return FingerprintValue{}
}

// Store replaces the value.
func (f *Fingerprint) Store(v FingerprintValue) { f.v.Store(&v) }

// HashHead fingerprints the first n bytes of f (fewer if it is shorter).
func HashHead(f io.ReaderAt, n int64) (FingerprintValue, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return FingerprintValue{}, err
	}
	return HashBytes(buf[:got]), nil
}

// StartsWith reports whether f still starts with the bytes fp was taken of
// (a fingerprint taken while the file was shorter is compared over its own
// length). An empty fingerprint says nothing: true.
func StartsWith(f io.ReaderAt, fp FingerprintValue) (bool, error) {
	if fp.Len == 0 {
		return true, nil
	}
	now, err := HashHead(f, fp.Len)
	if err != nil {
		return false, err
	}
	return now == fp, nil
}

// HashBytes fingerprints b, the first bytes of a file.
func HashBytes(b []byte) FingerprintValue {
	return FingerprintValue{Hash: hash(b), Len: int64(len(b))}
}
