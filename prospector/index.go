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
// truncated (from their goroutines: hence the mutex).
type contentIndex struct {
	mu      sync.Mutex
	entries map[event.FingerprintValue]indexed
}

type indexed struct {
	pos   event.Position
	marks []event.Position // positions in the content before pos (see event.Marks)
	at    time.Time
}

func newContentIndex() *contentIndex {
	return &contentIndex{entries: make(map[event.FingerprintValue]indexed)}
}

func (ix *contentIndex) add(fp event.FingerprintValue, pos event.Position, marks []event.Position) {
	if fp.Len == 0 || pos.Offset == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.entries[fp]; ok && old.pos.Offset > pos.Offset {
		return // the furthest read wins
	}
	ix.entries[fp] = indexed{pos: pos, marks: marks, at: time.Now()}
}

// lookup finds the position of content whose head c has. Entries taken while
// their file was shorter than the fingerprint size are compared over their
// own length.
func (ix *contentIndex) lookup(c content, full event.FingerprintValue) (indexed, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e, ok := ix.entries[full]; ok {
		return e, true
	}
	for fp, e := range ix.entries {
		if fp.Len >= full.Len {
			continue
		}
		if h, err := c.head(fp.Len); err == nil && h == fp {
			return e, true
		}
	}
	return indexed{}, false
}

// expire forgets entries older than age.
func (ix *contentIndex) expire(age time.Duration) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cut := time.Now().Add(-age)
	for fp, e := range ix.entries {
		if e.at.Before(cut) {
			delete(ix.entries, fp)
		}
	}
}

// sameContent reports whether c starts with the content fingerprinted as fp.
func sameContent(c content, full, fp event.FingerprintValue) bool {
	if fp.Len == 0 {
		return false
	}
	if fp.Len == full.Len {
		return fp == full
	}
	if fp.Len > full.Len {
		return false
	}
	h, err := c.head(fp.Len)
	return err == nil && h == fp
}
