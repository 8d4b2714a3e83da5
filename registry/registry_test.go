package registry

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/event"
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
	src.Fingerprint.Store(event.FingerprintValue{Hash: 99, Len: 10})
	r.Commit(src, event.Position{Offset: 100})
	r.Commit(src, event.Position{Offset: 250, TailHash: 7, TailLen: 3})
	r.Commit(&event.Source{ID: "1:3", Path: "/var/log/b.log"}, event.Position{Offset: 7})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(path, time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	e, ok := r2.Get("1:2")
	if !ok || e.Position() != (event.Position{Offset: 250, TailHash: 7, TailLen: 3}) || e.Path != "/var/log/a.log" || e.Fingerprint != 99 || e.FingerprintLen != 10 || e.Inode != 2 {
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
		for _, e := range doc.Files {
			if e.ID == "" || e.Offset < 0 {
				t.Fatalf("invalid entry accepted: %+v", e)
			}
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
