// Package registry keeps each file's committed offset: the end of the last
// line that, with every line before it, Kafka has acknowledged. The spooler's
// acker is the one writer that advances it (Commit); the prospector reads it
// to resume, enters files it has not seen yet (Seed, which never moves an
// entry) and forgets files that are gone (Remove); it is written to disk
// atomically (temp file, fsync, rename, fsync of the directory) every
// flush_interval when it has changed, and once more at shutdown after the
// output has drained.
//
//	spooler (acks) ──Commit──▶ registry ──Flush──▶ registry.json
//	prospector ──Seed, Remove──▶ │
//	prospector ◀──Get────────────┘
package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// Version is the on-disk format version this package writes. It reads it
// and the versions before it (1: no previous contents).
const Version = 2

// ErrCorrupt is returned by Open for a registry file that cannot be decoded.
// The agent refuses to start rather than re-reading every file from zero.
var ErrCorrupt = errors.New("registry file is corrupt")

// Entry is the state of one file.
type Entry struct {
	ID             string `json:"id"`
	Path           string `json:"path"`
	Offset         int64  `json:"offset"`
	Dev            uint64 `json:"dev"`
	Inode          uint64 `json:"inode"`
	Fingerprint    uint64 `json:"fingerprint"`
	FingerprintLen int64  `json:"fingerprint_len"`
	// TailHash and TailLen check, on resume, that the bytes before Offset
	// are still the line they were (see fileid.Position).
	TailHash uint64    `json:"tail_hash"`
	TailLen  int       `json:"tail_len"`
	Updated  time.Time `json:"updated"`
	// Previous is the content the file held before it was last truncated
	// or found replaced, and how far that was delivered: a copy of it
	// (copytruncate) that no entry of its own covers yet continues there,
	// after a restart too.
	Previous *Content `json:"previous,omitempty"`

	src *event.Source // the last committer, told when the entry is removed
}

// Content is a file content known by its head fingerprint, delivered up to
// a position in it.
type Content struct {
	Fingerprint    uint64 `json:"fingerprint"`
	FingerprintLen int64  `json:"fingerprint_len"`
	Offset         int64  `json:"offset"`
	TailHash       uint64 `json:"tail_hash"`
	TailLen        int    `json:"tail_len"`
}

// Position is the content's delivered position.
func (c Content) Position() fileid.Position {
	return fileid.Position{Offset: c.Offset, TailHash: c.TailHash, TailLen: c.TailLen}
}

// previous is what an entry that replaces e keeps as its Previous: e's
// content when something of it was delivered, else (e was entered and
// replaced before a line of it was delivered: an empty file found twice)
// the content e kept.
func (e Entry) previous() *Content {
	if e.Offset == 0 {
		return e.Previous
	}
	return e.content()
}

// content is what the entry says of the file's content now.
func (e Entry) content() *Content {
	return &Content{Fingerprint: e.Fingerprint, FingerprintLen: e.FingerprintLen, Offset: e.Offset, TailHash: e.TailHash, TailLen: e.TailLen}
}

// Position is the entry's resume position.
func (e Entry) Position() fileid.Position {
	return fileid.Position{Offset: e.Offset, TailHash: e.TailHash, TailLen: e.TailLen}
}

type document struct {
	Version int      `json:"version"`
	Files   *[]Entry `json:"files"`
}

// Registry is the in-memory state and its file. All methods are safe for
// concurrent use.
type Registry struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	// OnWrite, if set before the first Flush, is told each write's
	// duration, size and file count (for metrics).
	OnWrite func(d time.Duration, bytes, files int)

	mu        sync.Mutex
	entries   map[string]*Entry
	dirty     bool
	onRemove  func(id string) // see OnRemove
	lastWrite time.Time       // of the file found at Open; zero if none
	writeMu   sync.Mutex      // serialises Flush
}

// Open loads the registry at path; a missing file is an empty registry. A file
// that exists but cannot be decoded yields an error wrapping ErrCorrupt. A
// symbolic link is followed: its target is read and written. A dangling
// link, or anything but a regular file, is an error.
func Open(path string, interval time.Duration, log *slog.Logger) (*Registry, error) {
	real, exists, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	r := &Registry{path: real, interval: interval, log: log, entries: make(map[string]*Entry)}
	if !exists {
		return r, nil
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("read registry %s: %w", path, err)
	}
	doc, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (move it aside to start over; files are then read from their start_position)", ErrCorrupt, path, err)
	}
	for _, e := range *doc.Files {
		r.entries[e.ID] = &e
	}
	if fi, err := os.Stat(real); err == nil {
		r.lastWrite = fi.ModTime()
	}
	return r, nil
}

// Resolve is the file the registry at path is kept in (a symbolic link's
// target) and whether it exists. Anything but a regular file there (a
// directory, a FIFO, a device, a dangling link) is an error naming it: the
// registry must never be silently started anew.
func Resolve(path string) (string, bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return path, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("registry %s: %w", path, err)
	}
	real := path
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return "", false, fmt.Errorf("registry %s is a symbolic link that leads nowhere (%v); fix or remove the link", path, err)
		}
		if fi, err = os.Stat(target); err != nil {
			return "", false, fmt.Errorf("registry %s: %w", path, err)
		}
		real = target
	}
	if !fi.Mode().IsRegular() {
		what := "a " + fi.Mode().Type().String()
		switch {
		case fi.IsDir():
			what = "a directory"
		case fi.Mode()&os.ModeNamedPipe != 0:
			what = "a FIFO"
		case fi.Mode()&os.ModeDevice != 0:
			what = "a device"
		}
		return "", false, fmt.Errorf("registry %s is not a regular file but %s", path, what)
	}
	return real, true, nil
}

// LastWrite is when the registry file found at Open was last written: about
// when the previous run stopped. Zero when there was none.
func (r *Registry) LastWrite() time.Time { return r.lastWrite }

// Create writes the registry file if there is none yet. The agent calls it
// at start: the file's time tells the next start since when rotated files
// are the agent's to read, so a crash before the first flush must not make
// that start another first start (rotated files taken for history).
func (r *Registry) Create() error {
	if _, err := os.Stat(r.path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
	return r.Flush()
}

// Remove forgets a file. Commits still in flight for the harvester run
// that last committed it are ignored from now on, so they cannot bring the
// entry back; a new run (a new Source) commits as usual.
func (r *Registry) Remove(id string) {
	r.mu.Lock()
	e, ok := r.entries[id]
	if ok {
		if e.src != nil {
			e.src.Forgotten.Store(true)
		}
		delete(r.entries, id)
		r.dirty = true
	}
	onRemove := r.onRemove
	r.mu.Unlock()
	if ok && onRemove != nil {
		onRemove(id)
	}
}

// OnRemove makes Remove call f with the id of each file it forgets (with
// exactly_once, its record in offsets_topic is deleted then). nil stops it.
func (r *Registry) OnRemove(f func(id string)) {
	r.mu.Lock()
	r.onRemove = f
	r.mu.Unlock()
}

func decode(data []byte) (document, error) {
	var doc document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return doc, err
	}
	if dec.More() {
		return doc, errors.New("trailing data after the document")
	}
	if doc.Version < 1 || doc.Version > Version {
		return doc, fmt.Errorf("unsupported version %d (this logship reads versions 1 to %d)", doc.Version, Version)
	}
	if doc.Files == nil {
		return doc, errors.New(`"files" is missing or null`)
	}
	seen := make(map[string]int, len(*doc.Files))
	for i, e := range *doc.Files {
		if e.ID == "" || e.Offset < 0 {
			return doc, fmt.Errorf("files[%d]: invalid entry (id %q, offset %d)", i, e.ID, e.Offset)
		}
		if j, dup := seen[e.ID]; dup {
			return doc, fmt.Errorf("files[%d]: id %q is the id of files[%d] too", i, e.ID, j)
		}
		seen[e.ID] = i
	}
	return doc, nil
}

// Path is the registry file's path.
func (r *Registry) Path() string { return r.path }

// Get returns the entry for a file identity.
func (r *Registry) Get(id string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Entries returns a copy of every entry, ordered by path.
func (r *Registry) Entries() []Entry {
	r.mu.Lock()
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, *e)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if c := cmp.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Commit records that src has been delivered up to pos: pos is the end of
// the last line such that it and every line of src before it were
// acknowledged by Kafka (or committed in a transaction). Only the acker
// calls it: it is the one writer of delivered positions. A Source whose
// entry was removed commits nothing.
func (r *Registry) Commit(src *event.Source, pos fileid.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if src.Forgotten.Load() {
		return
	}
	old := r.entries[src.ID]
	e := r.put(src, pos)
	if old != nil {
		e.Previous = old.Previous
		if src.Truncated && old.src != src {
			// The first commit of content that replaced the file's
			// content (the harvester found it truncated): the old
			// content is delivered as far as old says, and its copy
			// may not be entered yet.
			e.Previous = old.previous()
		}
	}
	src.SetDelivered(pos)
}

// Seed enters a file the registry does not know yet, at pos: the start of
// new content, where start_position: end begins, or how far the content a
// copy continues is delivered. It never changes an entry that exists, so it
// can never move a file past lines read but not yet acknowledged: only
// Commit moves entries forward, and a stale entry (another content with the
// same identity) is Replaced instead. It reports whether it entered src.
func (r *Registry) Seed(src *event.Source, pos fileid.Position) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[src.ID]; ok {
		return false
	}
	r.put(src, pos)
	src.SetDelivered(pos)
	return true
}

// Replace enters src at pos in place of an entry for other content with the
// same identity (the file was truncated, or its inode reused, while it was
// not read): the old entry's sources commit nothing from now on, and its
// content is kept as the entry's Previous, for a copy of it to continue.
func (r *Registry) Replace(src *event.Source, pos fileid.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.entries[src.ID]
	if old != nil && old.src != nil {
		old.src.Forgotten.Store(true)
	}
	e := r.put(src, pos)
	if old != nil {
		e.Previous = old.previous()
	}
	src.SetDelivered(pos)
}

func (r *Registry) put(src *event.Source, pos fileid.Position) *Entry {
	e := EntryFor(src, pos)
	e.src = src
	r.entries[src.ID] = &e
	r.dirty = true
	return &e
}

// EntryFor is the entry of src delivered up to pos, updated now: what
// Commit records (and exactly_once writes to Kafka).
func EntryFor(src *event.Source, pos fileid.Position) Entry {
	fp := src.Fingerprint.Load()
	e := Entry{ID: src.ID, Path: src.Path, Offset: pos.Offset, TailHash: pos.TailHash, TailLen: pos.TailLen,
		Dev: src.Dev, Inode: src.Inode, Fingerprint: fp.Hash, FingerprintLen: fp.Len, Updated: time.Now().UTC()}
	if p := src.Previous; p != nil && p.Pos.Offset > 0 {
		e.Previous = &Content{Fingerprint: p.Fingerprint.Hash, FingerprintLen: p.Fingerprint.Len,
			Offset: p.Pos.Offset, TailHash: p.Pos.TailHash, TailLen: p.Pos.TailLen}
	}
	return e
}

// Adopt replaces the entries of restored (Kafka's, with exactly_once) where
// they differ from the local ones, and returns the ids that differed.
func (r *Registry) Adopt(restored []Entry) (changed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range restored {
		old, ok := r.entries[e.ID]
		if ok && old.Path == e.Path && old.Position() == e.Position() && old.Fingerprint == e.Fingerprint && old.FingerprintLen == e.FingerprintLen {
			continue
		}
		e.src = nil
		if ok {
			e.src = old.src
			if e.Previous == nil {
				e.Previous = old.Previous // Kafka's records do not carry it
			}
		}
		r.entries[e.ID] = &e
		changed = append(changed, e.ID)
		r.dirty = true
	}
	slices.Sort(changed)
	return changed
}

// Run flushes the registry every interval while it is dirty, until ctx is
// done. The owner calls Flush once more after the output has drained.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.Flush(); err != nil {
				// Kept in memory and tried again next tick: a full disk
				// must not stop shipping.
				r.log.Error("registry write failed", "path", r.path, "err", err)
			}
		}
	}
}

// Flush writes the registry if it changed since the last write.
func (r *Registry) Flush() error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.Lock()
	if !r.dirty {
		r.mu.Unlock()
		return nil
	}
	files := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		files = append(files, *e)
	}
	r.dirty = false
	r.mu.Unlock()

	slices.SortFunc(files, func(a, b Entry) int { return cmp.Compare(a.ID, b.ID) })
	doc := document{Version: Version, Files: &files}
	start := time.Now()
	data, err := json.MarshalIndent(doc, "", "  ")
	if err == nil {
		err = writeAtomic(r.path, append(data, '\n'))
	}
	if err == nil && r.OnWrite != nil {
		r.OnWrite(time.Since(start), len(data)+1, len(files))
	}
	if err != nil {
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
	}
	return err
}

// writeAtomic replaces path with data so that a crash at any moment leaves
// either the old or the new content: temp file, fsync, rename, fsync dir.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create registry directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create registry temp file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	// The file's errors name it already (write PATH: no space left on
	// device): returned as they are.
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename registry into place: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open registry directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync registry directory: %w", err)
	}
	return nil
}
