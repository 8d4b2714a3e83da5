package fileid

import (
	"io"
	"sync"
)

// Marks are recent positions in a file's content whose line tails are
// known, at least markGap bytes apart (a harvester offers one per chunk it
// sends). Once the file is truncated or closed they tell a copy of its
// content that is shorter than what was read (copytruncate: lines written
// between the copy and the truncation were read from the original) from
// another file that merely starts with the same bytes (a banner every run
// writes): a copy has the original's bytes at the original's positions.
// Safe for concurrent use.
type Marks struct {
	mu  sync.Mutex
	buf [marksKept]Position
	n   int // positions added since the last Reset
}

// marksKept positions markGap apart cover the last 32 KiB read: a copy
// that ends there resumes at most markGap before its end.
const (
	marksKept = 16
	markGap   = 2048
)

// Add records a position after a line. Positions that cannot prove content
// (at the file's start, after a truncated line, in UTF-16), positions inside
// the fingerprinted head (the heads are compared already) and positions
// less than markGap past the last one kept are ignored.
func (m *Marks) Add(p Position) {
	if p.Offset <= FingerprintSize || p.TailLen < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 && p.Offset < m.buf[(m.n-1)%marksKept].Offset+markGap {
		return
	}
	m.buf[m.n%marksKept] = p
	m.n++
}

// Reset forgets every position: the file's content was replaced.
func (m *Marks) Reset() {
	m.mu.Lock()
	m.n = 0
	m.mu.Unlock()
}

// Snapshot returns the positions in ascending order of offset.
func (m *Marks) Snapshot() []Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Position
	for i := max(0, m.n-marksKept); i < m.n; i++ {
		out = append(out, m.buf[i%marksKept])
	}
	return out
}

// ResumeCopy is where a file of the given size that may be a copy of the
// content marks were taken in resumes: at the last mark it reaches, if its
// bytes there are the original's. Its bytes past that mark were read from
// the original too, but are not proven to be the same: they are read again.
// false: not shown to be a copy.
func ResumeCopy(marks []Position, f io.ReaderAt, size int64) (Position, bool) {
	for i := len(marks) - 1; i >= 0; i-- {
		if marks[i].Offset <= size {
			return marks[i], marks[i].Check(f)
		}
	}
	return Position{}, false
}
