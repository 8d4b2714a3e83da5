package event

import (
	"io"
	"sync"
)

// Marks are the most recent positions in a file's content whose line tails
// are known (a harvester adds one per chunk it sends). Once the file is
// truncated or closed they tell a copy of its content that is shorter than
// what was read (copytruncate: lines written between the copy and the
// truncation were read from the original) from another file that merely
// starts with the same bytes (a banner every run writes): a copy has the
// original's bytes at the original's positions. Safe for concurrent use.
type Marks struct {
	mu  sync.Mutex
	buf [marksKept]Position
	n   int // positions added since the last Reset
}

// marksKept is how many recent positions are kept.
const marksKept = 8

// Add records a position after a line. Positions that cannot prove content
// (at the file's start, after a truncated line, in UTF-16), positions inside
// the fingerprinted head (the heads are compared already) and positions not
// past the last one are ignored.
func (m *Marks) Add(p Position) {
	if p.Offset <= FingerprintSize || p.TailLen < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 && p.Offset <= m.buf[(m.n-1)%marksKept].Offset {
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

// IsCopy reports whether f, size bytes long, holds the content marks were
// taken in up to its end: its bytes match at the last mark it reaches. No
// mark within size proves nothing: false.
func IsCopy(marks []Position, f io.ReaderAt, size int64) bool {
	for i := len(marks) - 1; i >= 0; i-- {
		if marks[i].Offset <= size {
			return marks[i].Check(f)
		}
	}
	return false
}
