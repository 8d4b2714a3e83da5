package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "registry.json")
	r, err := Open(path, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(); err != nil { // clean: writes nothing
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a clean registry was written: %v", err)
	}
	src := &event.Source{ID: "1:2", Path: "/var/log/a.log", Dev: 1, Inode: 2}
	src.Fingerprint.Store(fileid.FingerprintValue{Hash: 99, Len: 10})
	r.Commit(src, fileid.Position{Offset: 100})
	r.Commit(src, fileid.Position{Offset: 250, TailHash: 7, TailLen: 3})
	r.Commit(&event.Source{ID: "1:3", Path: "/var/log/b.log"}, fileid.Position{Offset: 7})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(path, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	e, ok := r2.Get("1:2")
	if !ok || e.Position() != (fileid.Position{Offset: 250, TailHash: 7, TailLen: 3}) || e.Path != "/var/log/a.log" || e.Fingerprint != 99 || e.FingerprintLen != 10 || e.Inode != 2 {
		t.Fatalf("reloaded entry = %+v, %v", e, ok)
	}
	if got := len(r2.Entries()); got != 2 {
		t.Fatalf("%d entries, want 2", got)
	}
	if r2.LastWrite().IsZero() {
		t.Fatal("LastWrite unknown after loading a file")
	}
	r2.Remove("1:3")
	if err := r2.Flush(); err != nil {
		t.Fatal(err)
	}
	if r3, _ := Open(path, time.Second, slog.Default()); len(r3.Entries()) != 1 {
		t.Fatal("Remove did not persist")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temp files left behind: %v", left)
	}
}

func TestCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"torn":          `{"version":1,"files":[{"id":"1:2","path":"/a","off`,
		"empty":         ``,
		"not json":      "offsets: 12\n",
		"wrong version": `{"version":7,"files":[]}`,
		"bad entry":     `{"version":1,"files":[{"id":"","offset":3}]}`,
		"unknown field": `{"version":1,"files":[],"extra":true}`,
		"trailing":      `{"version":1,"files":[]} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, time.Second, slog.Default())
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			// The corrupt file is left as it was for the operator.
			if data, _ := os.ReadFile(path); string(data) != content {
				t.Fatal("corrupt registry was modified")
			}
		})
	}
}

func TestUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory in place of the file cannot be read: an error, not an empty registry.
	path := filepath.Join(dir, "registry.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, time.Second, slog.Default()); err == nil {
		t.Fatal("no error")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":[{"id":"1:2","path":"/a","offset":5}]}`))
	f.Add([]byte(`{"version":1,"files":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := decode(data)
		if err != nil {
			return
		}
		ids := map[string]bool{}
		for _, e := range *doc.Files {
			if e.ID == "" || e.Offset < 0 || ids[e.ID] {
				t.Fatalf("invalid entry accepted: %+v", e)
			}
			ids[e.ID] = true
		}
	})
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "registry.json")
	l, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

// A registry behind a symbolic link is read and written through it: the
// link stays and its target is updated.
func TestSymlinkedRegistry(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "registry.json")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(`{"version":1,"files":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "registry.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	r, err := Open(link, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(&event.Source{ID: "1:2", Path: "/a"}, fileid.Position{Offset: 5})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	r2, err := Open(target, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := r2.Get("1:2"); !ok || e.Offset != 5 {
		t.Fatalf("the link's target was not updated: %+v %v", e, ok)
	}
}

// What is at registry.path and cannot be a registry is refused with an
// error that names it, never taken for an empty registry (or waited on).
func TestRegistryPathRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink(filepath.Join(dir, "nowhere", "registry.json"), dangling); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ path, want string }{
		{fifo, "not a regular file"},
		{dir, "not a regular file"},
		{dangling, "leads nowhere"},
		{write("null.json", `{"version":1,"files":null}`), `"files" is missing or null`},
		{write("nofiles.json", `{"version":1}`), `"files" is missing or null`},
		{write("dup.json", `{"version":1,"files":[{"id":"1:2","offset":5},{"id":"1:2","offset":9}]}`), `files[1]: id "1:2" is the id of files[0] too`},
	} {
		done := make(chan error, 1)
		go func() { _, err := Open(c.path, time.Second, slog.Default()); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("%s: %v, want an error naming it and saying %q", c.path, err, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Open hangs", c.path)
		}
	}
}

// A commit still in flight when its file's entry is removed (clean_removed,
// clean_inactive) does not bring the entry back; a new harvester run of the
// same identity commits as usual.
func TestRemovedEntryStaysRemoved(t *testing.T) {
	r, err := Open(filepath.Join(t.TempDir(), "registry.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	old := &event.Source{ID: "1:2", Path: "/a"}
	r.Commit(old, fileid.Position{Offset: 5})
	r.Remove("1:2")
	r.Commit(old, fileid.Position{Offset: 9}) // the acker, late
	if e, ok := r.Get("1:2"); ok {
		t.Fatalf("a late commit brought the removed entry back: %+v", e)
	}
	r.Commit(&event.Source{ID: "1:2", Path: "/a"}, fileid.Position{Offset: 3})
	if e, ok := r.Get("1:2"); !ok || e.Offset != 3 {
		t.Fatalf("a new run's commit: %+v %v", e, ok)
	}
}

// The first start writes the registry at once: a crash before the first
// flush must not make the next start a first start too.
func TestCreateAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	r, err := Open(path, time.Hour, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create(); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(path, time.Hour, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if r2.LastWrite().IsZero() || len(r2.Entries()) != 0 {
		t.Fatalf("after Create: last write %v, %d entries", r2.LastWrite(), len(r2.Entries()))
	}
	if err := r2.Create(); err != nil { // there is one: nothing to do
		t.Fatal(err)
	}
}

// A write that fails (a full disk, here a 4 KiB tmpfs of the test's own)
// is an error naming the file once, and the registry stays dirty for the
// next try.
func TestWriteErrorNamesTheFileOnce(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a tmpfs of the test's own: %v: %s", err, out)
		}
		t.Skipf("needs root to mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	r, err := Open(filepath.Join(dir, "registry.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		r.Commit(&event.Source{ID: fmt.Sprintf("1:%d", i), Path: fmt.Sprintf("/var/log/app-%d.log", i)}, fileid.Position{Offset: 10})
	}
	err = r.Flush()
	if err == nil {
		t.Fatal("a registry of 200 files was written to a 4 KiB filesystem")
	}
	msg := err.Error()
	tmp := regexp.MustCompile(`\S*registry\.json\.tmp-\d+`).FindString(msg)
	if !strings.Contains(msg, "no space left on device") || tmp == "" || strings.Count(msg, tmp) != 1 {
		t.Fatalf("error %q: want the temp file named once and the cause", msg)
	}
	if err := r.Flush(); err == nil {
		t.Fatal("the failed write was not tried again: the registry was no longer dirty")
	}
}

// When a file's content is replaced while it is read (a truncation), the
// first commit of the new content keeps the old content and how far it was
// delivered as Previous, on disk too, so that a copy of it continues there
// after a restart; later commits keep it. A version 1 file still reads.
func TestTruncationKeepsThePreviousContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	r, err := Open(path, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	old := &event.Source{ID: "1:2", Path: "/var/log/a.log", Dev: 1, Inode: 2}
	old.Fingerprint.Store(fileid.FingerprintValue{Hash: 7, Len: 1024})
	r.Commit(old, fileid.Position{Offset: 5000, TailHash: 9, TailLen: 20})
	renewed := old.Renewed(fileid.Position{Offset: 5000, TailHash: 9, TailLen: 20})
	renewed.Fingerprint.Store(fileid.FingerprintValue{Hash: 8, Len: 10})
	r.Commit(renewed, fileid.Position{})
	r.Commit(renewed, fileid.Position{Offset: 10, TailLen: -1})
	want := Content{Fingerprint: 7, FingerprintLen: 1024, Offset: 5000, TailHash: 9, TailLen: 20}
	if e, _ := r.Get("1:2"); e.Previous == nil || *e.Previous != want || e.Offset != 10 || e.Fingerprint != 8 {
		t.Fatalf("entry %+v, previous %+v: want the new content at 10 and the old as previous", e, e.Previous)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := again.Get("1:2"); e.Previous == nil || *e.Previous != want {
		t.Fatalf("previous content after a restart: %+v", e.Previous)
	}
	// Found empty and replaced again before a line of it was delivered
	// (a file truncated while the agent was down, then written): the
	// content delivered before stays the previous one.
	empty := &event.Source{ID: "1:2", Path: "/var/log/a.log", Dev: 1, Inode: 2}
	again.Replace(empty, fileid.Position{})
	written := &event.Source{ID: "1:2", Path: "/var/log/a.log", Dev: 1, Inode: 2}
	written.Fingerprint.Store(fileid.FingerprintValue{Hash: 9, Len: 64})
	again.Replace(written, fileid.Position{})
	if e, _ := again.Get("1:2"); e.Previous == nil || e.Previous.Offset != 10 || e.Previous.Fingerprint != 8 {
		t.Fatalf("previous content after two replacements, the first empty: %+v, want the content delivered to 10", e.Previous)
	}
	v1 := filepath.Join(t.TempDir(), "v1.json")
	if err := os.WriteFile(v1, []byte(`{"version": 1, "files": [{"id": "1:3", "path": "/x", "offset": 4}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r1, err := Open(v1, time.Second, slog.Default()); err != nil {
		t.Fatalf("a version 1 registry: %v", err)
	} else if e, ok := r1.Get("1:3"); !ok || e.Offset != 4 {
		t.Fatalf("a version 1 registry read as %+v", e)
	}
}

// The entry of truncated content carries the content before it, as far as
// it was read when the harvester found the truncation: exactly_once's
// offsets records are such entries, and a restart that takes them over the
// registry's must still know where a copy of the old content continues.
func TestEntryOfRenewedContentCarriesThePrevious(t *testing.T) {
	old := &event.Source{ID: "1:2", Path: "/var/log/a.log", Dev: 1, Inode: 2}
	old.Fingerprint.Store(fileid.FingerprintValue{Hash: 7, Len: 1024})
	renewed := old.Renewed(fileid.Position{Offset: 5000, TailHash: 9, TailLen: 20})
	renewed.Fingerprint.Store(fileid.FingerprintValue{Hash: 8, Len: 10})
	e := EntryFor(renewed, fileid.Position{Offset: 10, TailLen: -1})
	want := Content{Fingerprint: 7, FingerprintLen: 1024, Offset: 5000, TailHash: 9, TailLen: 20}
	if e.Previous == nil || *e.Previous != want {
		t.Fatalf("previous %+v, want %+v", e.Previous, want)
	}
	if e := EntryFor(old, fileid.Position{Offset: 5000}); e.Previous != nil {
		t.Fatalf("content never truncated has a previous: %+v", e.Previous)
	}
}

// OnRemove is told each file Remove forgets, and only those it knew.
func TestOnRemoveToldOfForgottenFiles(t *testing.T) {
	r, err := Open(filepath.Join(t.TempDir(), "registry.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	r.OnRemove(func(id string) { told = append(told, id) })
	src := &event.Source{ID: "1:2", Path: "/var/log/a.log", Dev: 1, Inode: 2}
	r.Commit(src, fileid.Position{Offset: 10})
	r.Remove("1:2")
	r.Remove("1:2")
	r.Remove("9:9")
	if len(told) != 1 || told[0] != "1:2" || !src.Forgotten.Load() {
		t.Fatalf("told %v, forgotten %v", told, src.Forgotten.Load())
	}
}
