package prospector

import (
	"sync"
	"time"

	"github.com/logship/logship/event"
)

// contentIndex remembers how far known content was read, by its head
// fingerprint, so that the same content under a new inode (a copytruncate
// copy, a rotated file compressed into a .gz, a file moved across
// filesystems) resumes where the original stopped. It is fed by the registry
// at start, by harvesters that stop, and by harvesters that find their file
// truncated (from their goroutines: hence the mutex). A harvester's position
// is where it read to, every line before it handed downstream, which may be
// ahead of delivery: the entry keeps the original's Source, whose Delivered
// position is what a copy may be entered in the registry at.
type contentIndex struct {
	mu      sync.Mutex
	entries fpSet[indexed]
}

type indexed struct {
	pos   event.Position
	marks []event.Position // positions in the content before pos (see event.Marks)
	src   *event.Source    // the content's, if read in this run; nil when pos is the registry's
	at    time.Time
}

// delivered is how far the content is known delivered: pos itself when it
// came from the registry.
func (e indexed) delivered() event.Position {
	if e.src == nil {
		return e.pos
	}
	return e.src.Delivered()
}

func newContentIndex() *contentIndex {
	return &contentIndex{entries: newFPSet[indexed]()}
}

// add records that the content src read was handed downstream up to pos
// (every line before pos is in the pipeline or delivered).
func (ix *contentIndex) add(src *event.Source, pos event.Position) {
	ix.put(src.Fingerprint.Load(), indexed{pos: pos, marks: src.Marks.Snapshot(), src: src})
}

// addDelivered records content the registry has delivered up to pos.
func (ix *contentIndex) addDelivered(fp event.FingerprintValue, pos event.Position) {
	ix.put(fp, indexed{pos: pos})
}

// put records e for the content fingerprinted fp. An entry at offset 0
// (content the registry knows, nothing of it delivered yet) is kept too: a
// copy of it, such as a file renamed and compressed while the agent was
// down, is then the agent's to read, not history.
func (ix *contentIndex) put(fp event.FingerprintValue, e indexed) {
	pos := e.pos
	if fp.Len == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.entries.m[fp]; ok && old.pos.Offset > pos.Offset {
		return // the furthest read wins
	}
	e.at = time.Now()
	ix.entries.put(fp, e)
}

// lookup finds the position of content whose head h is. Entries taken while
// their file was shorter than the fingerprint size are compared over their
// own length.
func (ix *contentIndex) lookup(h *head) (indexed, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.entries.match(h)
}

// expire forgets entries older than age.
func (ix *contentIndex) expire(age time.Duration) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cut := time.Now().Add(-age)
	for fp, e := range ix.entries.m {
		if e.at.Before(cut) {
			ix.entries.del(fp)
		}
	}
}

// fpSet holds values by head fingerprint and finds the one whose content a
// head starts with at the cost of one lookup per distinct fingerprint
// length, not one comparison per entry: a node with thousands of short
// files must not make each new file cost thousands.
type fpSet[V any] struct {
	m    map[event.FingerprintValue]V
	lens map[int64]int // entries per fingerprint length
}

func newFPSet[V any]() fpSet[V] {
	return fpSet[V]{m: make(map[event.FingerprintValue]V), lens: make(map[int64]int)}
}

func (s *fpSet[V]) put(fp event.FingerprintValue, v V) {
	if _, ok := s.m[fp]; !ok {
		s.lens[fp.Len]++
	}
	s.m[fp] = v
}

func (s *fpSet[V]) del(fp event.FingerprintValue) {
	if _, ok := s.m[fp]; !ok {
		return
	}
	delete(s.m, fp)
	if s.lens[fp.Len]--; s.lens[fp.Len] == 0 {
		delete(s.lens, fp.Len)
	}
}

// match returns the value of the whole head's fingerprint, else of one of
// its prefixes.
func (s *fpSet[V]) match(h *head) (V, bool) {
	var got V
	found := s.each(h, func(v V) bool { got = v; return true })
	return got, found
}

// each calls fn with the values whose fingerprint h starts with, the whole
// head's first, until fn returns true; it reports whether one did.
func (s *fpSet[V]) each(h *head, fn func(V) bool) bool {
	if v, ok := s.m[h.full]; ok && fn(v) {
		return true
	}
	for n := range s.lens {
		if n >= h.full.Len {
			continue
		}
		if fp, ok := h.prefix(n); ok {
			if v, ok := s.m[fp]; ok && fn(v) {
				return true
			}
		}
	}
	return false
}
