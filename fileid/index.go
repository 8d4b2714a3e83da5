package fileid

import (
	"sync"
	"time"
)

// Index remembers how far known content was read, by its head
// fingerprint, so that the same content under a new inode (a copytruncate
// copy, a rotated file compressed into a .gz, a file moved across
// filesystems) resumes where the original stopped. It is fed by the registry
// at start, by harvesters that stop, and by harvesters that find their file
// truncated (from their goroutines: hence the mutex). A harvester's position
// is where it read to, every line before it handed downstream, which may be
// ahead of delivery: the entry keeps the original's Source, whose Delivered
// position is what a copy may be entered in the registry at.
type Index struct {
	mu      sync.Mutex
	entries Set[Indexed]
}

// Indexed is what the index knows of a content.
type Indexed struct {
	Pos   Position   // where the content was read to
	Marks []Position // positions in the content before Pos (see Marks)
	// delivered is how far the content is delivered now, if it was read
	// in this run; nil when Pos came from the registry (delivered).
	delivered func() Position
	at        time.Time
}

// Delivered is how far the content is known delivered: Pos itself when it
// came from the registry.
func (e Indexed) Delivered() Position {
	if e.delivered == nil {
		return e.Pos
	}
	return e.delivered()
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{entries: NewSet[Indexed]()}
}

// Add records that the content fingerprinted fp was handed downstream up
// to pos (every line before pos is in the pipeline or delivered), with the
// marks taken in it; delivered says how far it is delivered, whenever asked.
func (ix *Index) Add(fp FingerprintValue, pos Position, marks []Position, delivered func() Position) {
	ix.put(fp, Indexed{Pos: pos, Marks: marks, delivered: delivered})
}

// AddDelivered records content the registry has delivered up to pos.
func (ix *Index) AddDelivered(fp FingerprintValue, pos Position) {
	ix.put(fp, Indexed{Pos: pos})
}

// put records e for the content fingerprinted fp. An entry at offset 0
// (content the registry knows, nothing of it delivered yet) is kept too: a
// copy of it, such as a file renamed and compressed while the agent was
// down, is then the agent's to read, not history.
func (ix *Index) put(fp FingerprintValue, e Indexed) {
	pos := e.Pos
	if fp.Len == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.entries.m[fp]; ok && old.Pos.Offset > pos.Offset {
		return // the furthest read wins
	}
	e.at = time.Now()
	ix.entries.Put(fp, e)
}

// Lookup finds the position of content whose head h is. Entries taken while
// their file was shorter than the fingerprint size are compared over their
// own length.
func (ix *Index) Lookup(h *Head) (Indexed, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.entries.Match(h)
}

// Expire forgets entries older than age.
func (ix *Index) Expire(age time.Duration) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cut := time.Now().Add(-age)
	for fp, e := range ix.entries.m {
		if e.at.Before(cut) {
			ix.entries.Del(fp)
		}
	}
}

// Set holds values by head fingerprint and finds the one whose content a
// head starts with at the cost of one lookup per distinct fingerprint
// length, not one comparison per entry: a node with thousands of short
// files must not make each new file cost thousands.
type Set[V any] struct {
	m    map[FingerprintValue]V
	lens map[int64]int // entries per fingerprint length
}

// NewSet returns an empty set.
func NewSet[V any]() Set[V] {
	return Set[V]{m: make(map[FingerprintValue]V), lens: make(map[int64]int)}
}

// Put records v for the content fingerprinted fp.
func (s *Set[V]) Put(fp FingerprintValue, v V) {
	if _, ok := s.m[fp]; !ok {
		s.lens[fp.Len]++
	}
	s.m[fp] = v
}

// At is the value for fp, the zero value if there is none.
func (s *Set[V]) At(fp FingerprintValue) V { return s.m[fp] }

// Del forgets fp.
func (s *Set[V]) Del(fp FingerprintValue) {
	if _, ok := s.m[fp]; !ok {
		return
	}
	delete(s.m, fp)
	if s.lens[fp.Len]--; s.lens[fp.Len] == 0 {
		delete(s.lens, fp.Len)
	}
}

// Match returns the value of the whole head's fingerprint, else of one of
// its prefixes.
func (s *Set[V]) Match(h *Head) (V, bool) {
	var got V
	found := s.Each(h, func(v V) bool { got = v; return true })
	return got, found
}

// Each calls fn with the values whose fingerprint h starts with, the whole
// head's first, until fn returns true; it reports whether one did.
func (s *Set[V]) Each(h *Head, fn func(V) bool) bool {
	if v, ok := s.m[h.Full]; ok && fn(v) {
		return true
	}
	for n := range s.lens {
		if n >= h.Full.Len {
			continue
		}
		if fp, ok := h.Prefix(n); ok {
			if v, ok := s.m[fp]; ok && fn(v) {
				return true
			}
		}
	}
	return false
}
