package prospector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/harvester"
	"github.com/logship/logship/internal/eventually"
	"github.com/logship/logship/internal/testlog"
	"github.com/logship/logship/registry"
)

// sink collects what harvesters send, line by line, per path.
type sink struct {
	mu    sync.Mutex
	lines map[string][]string
	offs  map[string][]int64
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		n += len(l)
	}
	return n
}

func (s *sink) get(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines[path]...)
}

type harness struct {
	p    *Prospector
	sink *sink
	logs *bytes.Buffer
	stop func()
}

func start(t *testing.T, inputs []config.Input, reg Registry) (*harness, *testlog.Buffer) {
	t.Helper()
	return startWith(t, inputs, reg, nil)
}

// startWith is start with setup called on the prospector before it runs.
func startWith(t *testing.T, inputs []config.Input, reg Registry, setup func(*Prospector)) (*harness, *testlog.Buffer) {
	t.Helper()
	for i := range inputs {
		def := config.DefaultInput()
		if inputs[i].ScanFrequency == 0 {
			inputs[i].ScanFrequency = config.Duration(100 * time.Millisecond)
		}
		if inputs[i].CloseInactive == 0 {
			inputs[i].CloseInactive = def.CloseInactive
		}
		if inputs[i].MaxBytes == 0 {
			inputs[i].MaxBytes = def.MaxBytes
		}
		if inputs[i].StartPosition == "" {
			inputs[i].StartPosition = def.StartPosition
		}
		if inputs[i].Type == "" {
			inputs[i].Type = "log"
		}
	}
	if reg == nil {
		r, err := registry.Open(filepath.Join(t.TempDir(), "reg.json"), time.Second, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		reg = r
	}
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out := make(chan *event.Chunk)
	p, err := New(inputs, out, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(p)
	}
	s := &sink{lines: map[string][]string{}, offs: map[string][]int64{}}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case c := <-out:
				s.mu.Lock()
				for _, e := range c.Events {
					if e.Skip { // a position, not a line
						continue
					}
					s.lines[e.Source.Path] = append(s.lines[e.Source.Path], string(e.Line))
					s.offs[e.Source.Path] = append(s.offs[e.Source.Path], e.Offset)
				}
				s.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return &harness{p: p, sink: s, stop: stop}, logs
}

func write(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually.Within(t, 10*time.Second, what, cond)
}

func TestGlobsAndExclusions(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/a.log", "a1", "a2")
	write(t, dir+"/sub/deep/b.log", "b1")
	write(t, dir+"/c.txt", "not matched")
	write(t, dir+"/old.log.gz", "excluded")
	write(t, dir+"/sub/skip.log", "excluded too")
	h, _ := start(t, []config.Input{{
		Paths:        []string{dir + "/**/*.log", dir + "/*.log*"},
		ExcludeFiles: []string{`\.gz$`, `/skip\.log$`},
	}}, nil)
	waitFor(t, "3 lines", func() bool { return h.sink.count() >= 3 })
	scans := h.p.Scans()
	waitFor(t, "three more scans: nothing else may arrive", func() bool { return h.p.Scans() >= scans+3 })
	if n := h.sink.count(); n != 3 {
		t.Fatalf("%d lines, want 3: %v", n, h.sink.lines)
	}
	if got := h.sink.get(dir + "/a.log"); strings.Join(got, ",") != "a1,a2" {
		t.Fatalf("a.log: %v (matched by two globs, read once)", got)
	}
}

func TestRenameKeepsHarvester(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/app.log", "one", "two")
	h, _ := start(t, []config.Input{{Paths: []string{dir + "/*.log*"}}}, nil)
	waitFor(t, "2 lines", func() bool { return h.sink.count() == 2 })
	if err := os.Rename(dir+"/app.log", dir+"/app.log.1"); err != nil {
		t.Fatal(err)
	}
	write(t, dir+"/app.log.1", "three") // a writer still appending to the renamed file
	write(t, dir+"/app.log", "new")
	waitFor(t, "4 lines", func() bool { return h.sink.count() == 4 })
	scans := h.p.Scans()
	waitFor(t, "three more scans", func() bool { return h.p.Scans() >= scans+3 })
	// Both the renamed file and its successor were opened as app.log.
	got := h.sink.get(dir + "/app.log")
	if strings.Join(got, ",") != "one,two,three,new" && strings.Join(got, ",") != "one,two,new,three" {
		t.Fatalf("lines: %v", h.sink.lines)
	}
	if got := h.sink.get(dir + "/app.log.1"); len(got) != 0 {
		t.Fatalf("renamed file re-read under its new name: %v", got)
	}
}

func TestDirectoryCreatedLater(t *testing.T) {
	dir := t.TempDir()
	h, _ := start(t, []config.Input{{Paths: []string{dir + "/later/*/x.log"}}}, nil)
	waitFor(t, "a scan without the directory", func() bool { return h.p.Scans() >= 2 })
	write(t, dir+"/later/a/x.log", "hello")
	waitFor(t, "the new file", func() bool { return h.sink.count() == 1 })
}

// sourceOf is the Source a harvester of path would commit with: its
// identity and head fingerprint.
func sourceOf(t *testing.T, path string) (*event.Source, os.FileInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	id, _ := fileid.Of(fi)
	fp, _ := fileid.HashHead(f, fileid.FingerprintSize)
	src := &event.Source{ID: id.String(), Path: path}
	src.Fingerprint.Store(fp)
	return src, fi
}

func TestResumeFromRegistry(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/a.log"
	write(t, path, "old1", "old2", "new1")
	reg, err := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	src, _ := sourceOf(t, path)
	reg.Commit(src, event.PositionAfter(&event.Event{End: 10, Line: []byte("old2")}))
	h, _ := start(t, []config.Input{{Paths: []string{path}}}, reg)
	waitFor(t, "1 line", func() bool { return h.sink.count() == 1 })
	if got := h.sink.get(path); got[0] != "new1" {
		t.Fatalf("resumed with %v", got)
	}
}

// A registry entry for the same inode but other content: read from the start.
func TestInodeReuseDetected(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/a.log"
	write(t, path, "brand", "new")
	reg, _ := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	fi, _ := os.Stat(path)
	id, _ := fileid.Of(fi)
	src := &event.Source{ID: id.String(), Path: path}
	src.Fingerprint.Store(fileid.FingerprintValue{Hash: 12345, Len: 10})
	reg.Commit(src, fileid.Position{Offset: 6, TailLen: -1})
	h, _ := start(t, []config.Input{{Paths: []string{path}}}, reg)
	waitFor(t, "2 lines", func() bool { return h.sink.count() == 2 })
}

func TestStartPositionEnd(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/a.log", "before start")
	h, _ := start(t, []config.Input{{Paths: []string{dir + "/*.log"}, StartPosition: config.StartEnd}}, nil)
	waitFor(t, "the first scan", func() bool { return h.p.Scans() > 0 })
	if h.p.OpenFiles() != 0 {
		t.Fatal("a file with nothing to read holds a harvester")
	}
	write(t, dir+"/a.log", "after start")
	write(t, dir+"/b.log", "new file, read whole")
	waitFor(t, "2 lines", func() bool { return h.sink.count() == 2 })
	if got := h.sink.get(dir + "/a.log"); len(got) != 1 || got[0] != "after start" {
		t.Fatalf("a.log: %v", got)
	}
}

func TestCloseInactiveAndReopen(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/a.log", "one")
	h, _ := start(t, []config.Input{{Paths: []string{dir + "/*.log"}, CloseInactive: config.Duration(200 * time.Millisecond)}}, nil)
	waitFor(t, "1 line", func() bool { return h.sink.count() == 1 })
	waitFor(t, "the file to close", func() bool { return h.p.OpenFiles() == 0 })
	write(t, dir+"/a.log", "two")
	waitFor(t, "2 lines", func() bool { return h.sink.count() == 2 })
	if got := h.sink.get(dir + "/a.log"); strings.Join(got, ",") != "one,two" {
		t.Fatalf("lines %v", got)
	}
}

// An unreadable file is reported once, retried, and read once readable.
// Root reads anything, so under root the test re-runs itself as nobody.
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		if os.Getenv("LOGSHIP_TEST_AS_NOBODY") != "" {
			t.Fatal("still root")
		}
		dir, err := os.MkdirTemp("", "logship-unreadable-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		// nobody cannot reach the test binary where go test built it.
		bin := filepath.Join(dir, "prospector.test")
		data, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestUnreadableFile$", "-test.v")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LOGSHIP_TEST_AS_NOBODY=1", "LOGSHIP_TEST_DIR="+dir, "GOCACHE="+dir+"/cache", "HOME="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestUnreadableFile")) {
			t.Fatalf("as nobody: %v\n%s", err, out)
		}
		return
	}
	dir := os.Getenv("LOGSHIP_TEST_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := dir + "/secret.log"
	write(t, path, "s1", "s2")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	h, logs := start(t, []config.Input{{Paths: []string{dir + "/*.log"}}}, registryIn(t, dir))
	waitFor(t, "the error", func() bool { return strings.Contains(logs.String(), "cannot open file") })
	scans := h.p.Scans()
	waitFor(t, "several scans", func() bool { return h.p.Scans() >= scans+4 })
	if n := strings.Count(logs.String(), "cannot open file"); n != 1 {
		t.Fatalf("error logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "permission denied") || !strings.Contains(logs.String(), path) {
		t.Fatalf("error does not say what and where:\n%s", logs)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lines", func() bool { return h.sink.count() == 2 })
}

func registryIn(t *testing.T, dir string) Registry {
	r, err := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// clean_removed forgets files that are gone; clean_inactive forgets entries
// not updated for that long; ignore_older keeps old unknown files unread.
func TestCleanAndIgnoreOlder(t *testing.T) {
	dir := t.TempDir()
	reg, _ := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	write(t, dir+"/old.log", "old line")
	write(t, dir+"/kept.log", "kept")
	gone := &event.Source{ID: "1:999999999", Path: dir + "/gone.log"}
	reg.Commit(gone, fileid.Position{Offset: 10})
	fi, _ := os.Stat(dir + "/kept.log")
	kept, _ := fileid.Of(fi)
	reg.Commit(&event.Source{ID: kept.String(), Path: dir + "/kept.log"}, fileid.Position{Offset: 5, TailLen: -1})
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir+"/old.log", old, old); err != nil {
		t.Fatal(err)
	}
	h, _ := start(t, []config.Input{{
		Paths:         []string{dir + "/*.log"},
		IgnoreOlder:   config.Duration(200 * time.Millisecond),
		CleanInactive: config.Duration(time.Second),
		CleanRemoved:  true,
	}}, reg)
	waitFor(t, "the gone file's entry to be removed", func() bool { _, ok := reg.Get(gone.ID); return !ok })
	if _, ok := reg.Get(kept.String()); !ok {
		t.Fatal("an existing, recently updated file was forgotten")
	}
	waitFor(t, "clean_inactive", func() bool { _, ok := reg.Get(kept.String()); return !ok })
	if n := h.sink.count(); n != 0 {
		t.Fatalf("%d lines read: ignore_older files must stay unread", n)
	}
}

func TestLimitWarnings(t *testing.T) {
	var buf testlog.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var l limitCheck
	l.check(log, []*input{{cfg: config.Input{}}}, 1<<40, 1<<40)
	for _, want := range []string{"RLIMIT_NOFILE", "max_user_watches"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no warning about %s:\n%s", want, buf.String())
		}
	}
	var quiet testlog.Buffer
	var l2 limitCheck
	l2.check(slog.New(slog.NewTextHandler(&quiet, nil)), []*input{{cfg: config.Input{HarvesterLimit: 10}}}, 5, 1)
	if quiet.String() != "" {
		t.Errorf("warned for a small configuration:\n%s", quiet.String())
	}
}

// A file first seen empty (a copy or a .gz being written) and then filled
// with known content continues where that content was read; its empty
// sighting does not pin it to offset 0.
func TestCopySeenEmptyFirst(t *testing.T) {
	dir := t.TempDir()
	a, b := dir+"/a.log", dir+"/b.log"
	write(t, a, "one", "two", "three")
	h, _ := start(t, []config.Input{{Paths: []string{dir + "/*.log"}, CloseEOF: true, ScanFrequency: config.Duration(20 * time.Millisecond)}}, nil)
	waitFor(t, "a's lines", func() bool { return h.sink.count() == 3 })
	write(t, b) // created empty
	scans := h.p.Scans()
	waitFor(t, "two scans that saw b empty", func() bool { return h.p.Scans() >= scans+2 })
	write(t, b, "one", "two", "three", "four")
	waitFor(t, "b's new line", func() bool { return len(h.sink.get(b)) > 0 })
	scans = h.p.Scans()
	waitFor(t, "two more scans", func() bool { return h.p.Scans() >= scans+2 })
	if got := h.sink.get(b); len(got) != 1 || got[0] != "four" {
		t.Fatalf("b shipped %q, want only its new line", got)
	}
}

// banner is a header every run of an application writes first: longer than
// the fingerprint, so files that start with it have equal heads.
func banner() []string {
	var b []string
	for i := range 20 {
		b = append(b, fmt.Sprintf("=== app v1.2.3 starting: configuration line %02d of the banner, the same every run ===", i))
	}
	return b
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s line %05d", prefix, i))
	}
	return out
}

// Rename rotation while running: the new file starts with the same banner
// as the rotated one, which is still open. It is new content, read whole at
// once, not held as a copy of the rotated file.
func TestSameBannerAfterRename(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app.log"
	write(t, app, append(banner(), numbered("old", 0, 200)...)...)
	h, _ := start(t, []config.Input{{Paths: []string{app}, RotatedFiles: []string{app + ".*"}}}, nil)
	waitFor(t, "the first file", func() bool { return h.sink.count() == 220 })
	if err := os.Rename(app, app+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, app, append(banner(), numbered("new", 0, 300)...)...)
	waitFor(t, "the new file's 320 lines", func() bool { return h.sink.count() == 540 })
	write(t, app, numbered("new", 300, 500)...)
	waitFor(t, "200 more", func() bool { return h.sink.count() == 740 })
	got := h.sink.get(app)
	want := append(append(append(banner(), numbered("old", 0, 200)...), banner()...), numbered("new", 0, 500)...)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %d lines, want %d: %q", len(got), len(want), got)
	}
}

// While the agent is stopped a file is truncated and written again with the
// same banner, shorter than its committed offset: it is read from its start.
func TestSameBannerRewrittenWhileStopped(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app.log"
	old := append(banner(), numbered("old", 0, 3000)...)
	write(t, app, old...)
	reg, err := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	src, fi := sourceOf(t, app)
	last := old[len(old)-1]
	reg.Commit(src, fileid.PositionAfterLine([]byte(last), fi.Size(), false))

	if err := os.Truncate(app, 0); err != nil {
		t.Fatal(err)
	}
	write(t, app, append(banner(), numbered("new", 0, 2000)...)...)
	h, logs := start(t, []config.Input{{Paths: []string{app}}}, reg)
	waitFor(t, "the rewritten file", func() bool { return h.sink.count() == 2020 })
	if got := h.sink.get(app); got[0] != banner()[0] || got[2019] != "new line 01999" {
		t.Fatalf("read %q ... %q", got[0], got[len(got)-1])
	}
	if strings.Contains(logs.String(), "copy of content already read") {
		t.Fatalf("taken for a copy:\n%s", logs)
	}
}

// copytruncate with lines written between the copy and the truncation: the
// copy is shorter than what was read of the original. It has the
// original's bytes at the original's last position it reaches, so it
// resumes there: at most the last 2 KiB of it are read again, not all of
// it, however the original's lines were cut into chunks.
func TestShortCopyResumesNearItsEnd(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprintf("live=%v", live), func(t *testing.T) {
			dir := t.TempDir()
			app := dir + "/app.log"
			write(t, app, numbered("a", 0, 2000)...)
			h, logs := start(t, []config.Input{{Paths: []string{app}, RotatedFiles: []string{app + ".1"}, ScanFrequency: config.Duration(50 * time.Millisecond)}}, nil)
			waitFor(t, "the file", func() bool { return h.sink.count() == 2000 })
			data, err := os.ReadFile(app)
			if err != nil {
				t.Fatal(err)
			}
			// Written after the copy was taken; live: one line at a time,
			// each its own chunk.
			for i := 2000; i < 2050; i++ {
				write(t, app, numbered("a", i, i+1)...)
				if live {
					waitFor(t, "the line", func() bool { return h.sink.count() == i+1 })
				}
			}
			waitFor(t, "the window's lines", func() bool { return h.sink.count() == 2050 })
			if err := os.WriteFile(app+".1.tmp", data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(app, 0); err != nil {
				t.Fatal(err)
			}
			write(t, app, "after truncation")
			waitFor(t, "the line after the truncation", func() bool { return h.sink.count() == 2051 })
			if err := os.Rename(app+".1.tmp", app+".1"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the copy to be taken for one", func() bool { return strings.Contains(logs.String(), "file is a copy of content already read") })
			scans := h.p.Scans()
			waitFor(t, "two scans of the copy", func() bool { return h.p.Scans() >= scans+2 })
			got := h.sink.get(app + ".1")
			if max := 2048 / 13; len(got) > max {
				t.Fatalf("%d lines of the copy read again, at most %d expected", len(got), max)
			}
			if want := numbered("a", 2000-len(got), 2000); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("the copy resumed with %q, not with its last lines", got)
			}
		})
	}
}

// panicky is a line processor that panics on a line saying so, as a bug in
// a processor would, and passes other lines through.
type panicky struct{ out []event.Event }

func (p *panicky) Line(l *event.Raw) {
	if string(l.Text) == "PANIC" {
		panic("processor bug")
	}
	p.out = append(p.out, event.Event{Line: l.Text, Offset: l.Offset, End: l.End, Flags: event.FlagCommit, Commit: l.After})
}
func (p *panicky) Expire(time.Time)                 {}
func (p *panicky) Flush()                           {}
func (p *panicky) Deadline() time.Time              { return time.Time{} }
func (p *panicky) Pending() (fileid.Position, bool) { return fileid.Position{}, false }
func (p *panicky) Events() []event.Event            { e := p.out; p.out = nil; return e }

// A panic in one file's harvester is that file's failure: it is logged with
// the path and counted, the file is retried at later scans, each wait twice
// the one before, its stack logged the first time only, and the other files
// keep shipping.
func TestHarvesterPanicIsolated(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/bad.log", "PANIC")
	write(t, dir+"/good.log", "one")
	reg := registryIn(t, dir)
	logs := &testlog.Buffer{}
	out := make(chan *event.Chunk, 16)
	p, err := New([]config.Input{{Type: "log", Paths: []string{dir + "/*.log"}, ScanFrequency: config.Duration(20 * time.Millisecond),
		CloseInactive: config.Duration(time.Minute), MaxBytes: 1 << 20, StartPosition: config.StartBeginning}},
		out, reg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.UsePipeline(0, func(*event.Source) harvester.Processor { return &panicky{} })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	got := func() string {
		select {
		case c := <-out:
			return string(c.Events[0].Line)
		case <-time.After(10 * time.Second):
			t.Fatal("no line shipped")
			return ""
		}
	}
	if l := got(); l != "one" {
		t.Fatalf("shipped %q", l)
	}
	waitFor(t, "the panic to be retried", func() bool { return p.InputStats()[0].Panics.Load() >= 3 })
	write(t, dir+"/good.log", "two")
	if l := got(); l != "two" {
		t.Fatalf("shipped %q", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := logs.String()
	if !strings.Contains(s, "harvester panicked") || !strings.Contains(s, "bad.log") || !strings.Contains(s, "processor bug") {
		t.Fatalf("the panic is not logged with its file:\n%s", s)
	}
	if n := strings.Count(s, "[running]"); n != 1 {
		t.Fatalf("%d stacks logged for %d panics of one file, want 1:\n%s", n, p.InputStats()[0].Panics.Load(), s)
	}
	var waits []time.Duration
	for _, m := range regexp.MustCompile(`retry_in=(\S+)`).FindAllStringSubmatch(s, -1) {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, d)
	}
	if len(waits) < 3 || waits[1] != 2*waits[0] || waits[2] != 2*waits[1] {
		t.Fatalf("waits before retrying the panicking file %v, want each twice the one before", waits)
	}
}

// start_position: end applies once, to the files present at the agent's
// first start. A file started at its end is in the registry at once, so a
// restart resumes there; after a reload, a file the registry does not know
// appeared since the agent started and is read whole.
func TestStartPositionEndOnce(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/a.log", "history")
	reg, err := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	in := []config.Input{{Paths: []string{dir + "/*.log"}, StartPosition: config.StartEnd}}
	h, _ := start(t, in, reg)
	waitFor(t, "the first scan", func() bool { return h.p.Scans() > 0 })
	h.stop()
	if n := h.sink.count(); n != 0 {
		t.Fatalf("%d lines of history shipped", n)
	}
	// Written while stopped (or while a reload drains).
	write(t, dir+"/a.log", "after")
	write(t, dir+"/b.log", "new file")
	h, _ = start(t, in, reg) // a restart
	waitFor(t, "a's new line", func() bool { return len(h.sink.get(dir+"/a.log")) == 1 })
	if got := h.sink.get(dir + "/a.log"); got[0] != "after" {
		t.Fatalf("a.log after a restart: %q", got)
	}
	h.stop()

	write(t, dir+"/c.log", "appeared before the reload, never committed")
	h2, _ := startWith(t, in, reg, func(p *Prospector) { p.Reloaded() })
	waitFor(t, "c's line", func() bool { return len(h2.sink.get(dir+"/c.log")) == 1 })
}

// A renamed file's harvester, once closed, is forgotten under both its
// paths: its renamed path's entry kept every rotated file's harvester (and,
// before they released their buffers, their last chunk) for good: memory
// grew with every rotation.
func TestRotatedHarvesterForgotten(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app.log"
	write(t, app, "one")
	h, _ := start(t, []config.Input{{Paths: []string{dir + "/*.log*"}, CloseInactive: config.Duration(300 * time.Millisecond)}}, nil)
	waitFor(t, "the line", func() bool { return h.sink.count() == 1 })
	if err := os.Rename(app, app+".1"); err != nil {
		t.Fatal(err)
	}
	scans := h.p.Scans()
	waitFor(t, "a scan that sees the rename", func() bool { return h.p.Scans() >= scans+2 })
	waitFor(t, "the rotated file to close", func() bool { return h.p.OpenFiles() == 0 })
	h.stop() // Run's goroutine owns byPath: read it once Run returned
	if n := len(h.p.byPath); n != 0 {
		t.Fatalf("%d paths still lead to closed harvesters: %v", n, h.p.byPath)
	}
}

// A file truncated while the agent was stopped, and empty when it starts,
// has its registry entry start over at once: no harvester runs for it, and
// the old content's offset must not stay (found by TestModel).
func TestTruncatedWhileStoppedStartsOver(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app.log"
	write(t, app, numbered("a", 0, 100)...)
	reg, err := registry.Open(filepath.Join(dir, "reg.json"), time.Second, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	src, fi := sourceOf(t, app)
	reg.Commit(src, fileid.PositionAfterLine([]byte("a line 00099"), fi.Size(), false))
	if err := os.Truncate(app, 0); err != nil {
		t.Fatal(err)
	}
	h, _ := start(t, []config.Input{{Paths: []string{app}}}, reg)
	waitFor(t, "a scan", func() bool { return h.p.Scans() > 0 })
	if e, ok := reg.Get(src.ID); !ok || e.Offset != 0 {
		t.Fatalf("registry after the start: %+v %v, want offset 0", e, ok)
	}
	reg.Commit(src, fileid.Position{Offset: 1300}) // the old content's acks, late
	if e, _ := reg.Get(src.ID); e.Offset != 0 {
		t.Fatalf("a late commit of the old content put the registry at %d", e.Offset)
	}
}

// A copytruncate's copy found while the original's harvester has not seen
// the truncation yet (the application already writing the new content):
// the copy is held until the harvester records where it stopped, not read
// again from its start. A file that only starts like a running one whose
// file is unchanged is not held.
func TestCopyOfTruncatedOriginalWaits(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app.log"
	write(t, app, numbered("a", 0, 2000)...)
	data, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(app)
	if err != nil {
		t.Fatal(err)
	}
	src := &event.Source{Path: app}
	fp, err := fileid.HashHead(f, fileid.FingerprintSize)
	if err != nil {
		t.Fatal(err)
	}
	src.Fingerprint.Store(fp)
	// Not run: as a harvester is between two reads.
	r := &running{h: harvester.New(harvester.Config{}, src, f, fileid.Position{}, nil, nil, &harvester.Stats{}, slog.New(slog.DiscardHandler)), path: app}
	defer f.Close()
	p := &Prospector{}
	candidate := func(name string, b []byte) bool {
		t.Helper()
		path := dir + "/" + name
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return p.copyOfRunning(fileid.Content{F: c}, int64(len(b)), r)
	}
	if !candidate("copy", data) {
		t.Fatal("a copy of the running file not held")
	}
	other := bytes.Replace(data, []byte("a line 01999"), []byte("b line 01999"), 1)
	if candidate("other", other) {
		t.Fatal("a file that only starts like the running one held as its copy")
	}
	// copytruncate: the original emptied and written again.
	if err := os.Truncate(app, 0); err != nil {
		t.Fatal(err)
	}
	write(t, app, numbered("c", 0, 10)...)
	if !candidate("copy.1", data) {
		t.Fatal("the copy of a file truncated under its harvester was taken for new content")
	}
}

// The paths whose open failed are remembered only while they exist: a node
// where unreadable files come and go does not grow the prospector.
func TestWarnedPathsForgottenWhenGone(t *testing.T) {
	dir := t.TempDir()
	p, err := New(nil, make(chan *event.Chunk), registryIn(t, dir), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "still-there.log")
	write(t, kept, "x")
	for i := range 100 {
		p.warned[filepath.Join(dir, fmt.Sprintf("gone-%d.log", i))] = "permission denied"
	}
	p.warned[kept] = "permission denied"
	p.clean(map[fileid.ID]bool{})
	if len(p.warned) != 1 || p.warned[kept] == "" {
		t.Fatalf("after a complete scan, %d paths remembered as unreadable, want only the one that exists", len(p.warned))
	}
}
