package harvester

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

type line struct {
	text        string
	offset, end int64
	truncated   bool
}

// run starts a harvester on path from offset and returns its chunks' channel,
// its wake channel and a function that stops it and returns Run's error.
func run(t *testing.T, path string, offset int64, cfg Config) (<-chan *event.Chunk, chan struct{}, *Harvester, func() error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *event.Chunk)
	wake := make(chan struct{}, 1)
	h := New(cfg, &event.Source{ID: "x", Path: path}, f, fileid.Position{Offset: offset}, out, wake, nil, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })
	return out, wake, h, stop
}

// collect reads chunks until n lines have arrived (skip events, which only
// carry a position, are not lines).
func collect(t *testing.T, ch <-chan *event.Chunk, n int) []line {
	t.Helper()
	var got []line
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case c := <-ch:
			for _, e := range c.Events {
				if e.Skip {
					continue
				}
				got = append(got, line{string(e.Line), e.Offset, e.End, e.Truncated})
			}
		case <-deadline:
			t.Fatalf("got %d lines, want %d: %+v", len(got), n, got)
		}
	}
	return got
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		cfg    Config
		want   []line
	}{
		{
			name:   "lines",
			writes: []string{"a\nbb\n\nccc\n"},
			want:   []line{{"a", 0, 2, false}, {"bb", 2, 5, false}, {"", 5, 6, false}, {"ccc", 6, 10, false}},
		},
		{
			name:   "crlf",
			writes: []string{"a\r\nb\r\n\r\n"},
			want:   []line{{"a", 0, 3, false}, {"b", 3, 6, false}, {"", 6, 8, false}},
		},
		{
			name:   "partial line held until its newline",
			writes: []string{"hel", "lo wor", "ld\nnext\n"},
			want:   []line{{"hello world", 0, 12, false}, {"next", 12, 17, false}},
		},
		{
			name:   "long line truncated in one read",
			writes: []string{"0123456789abc\nok\n"},
			cfg:    Config{MaxBytes: 10},
			want:   []line{{"0123456789", 0, 14, true}, {"ok", 14, 17, false}},
		},
		{
			name:   "long line truncated across reads",
			writes: []string{"0123456789abcdefghij\nok\n"},
			cfg:    Config{MaxBytes: 10, ReadBufferSize: 4},
			want:   []line{{"0123456789", 0, 21, true}, {"ok", 21, 24, false}},
		},
		{
			name:   "line of exactly max_bytes is whole",
			writes: []string{"0123456789\n"},
			cfg:    Config{MaxBytes: 10, ReadBufferSize: 3},
			want:   []line{{"0123456789", 0, 11, false}},
		},
		{
			name:   "invalid UTF-8 kept as written with KeepBytes",
			writes: []string{"bad \xff\xfe bytes\n"},
			cfg:    Config{KeepBytes: true},
			want:   []line{{"bad \xff\xfe bytes", 0, 13, false}},
		},
		{
			name:   "small chunks",
			writes: []string{"a\nb\nc\nd\ne\n"},
			cfg:    Config{ChunkEvents: 2, ChunkBytes: 3},
			want:   []line{{"a", 0, 2, false}, {"b", 2, 4, false}, {"c", 4, 6, false}, {"d", 6, 8, false}, {"e", 8, 10, false}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.log")
			appendFile(t, path, "")
			out, wake, _, _ := run(t, path, 0, tc.cfg)
			for _, w := range tc.writes {
				appendFile(t, path, w)
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			got := collect(t, out, len(tc.want))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestResumeAndOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "one\ntwo\nthree\npart")
	out, _, h, stop := run(t, path, 4, Config{})
	got := collect(t, out, 2)
	if got[0].text != "two" || got[0].offset != 4 || got[1].text != "three" {
		t.Fatalf("resumed at the wrong place: %+v", got)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	// The partial last line is not counted as read.
	if h.Position().Offset != 14 {
		t.Fatalf("Offset = %d, want 14", h.Position().Offset)
	}
}

// An unsent chunk (spooler full at shutdown) is not counted as read.
func TestOffsetExcludesUnsent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "one\ntwo\n")
	_, _, h, stop := run(t, path, 0, Config{}) // nobody receives
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if h.Position().Offset != 0 {
		t.Fatalf("Offset = %d after nothing was sent, want 0", h.Position().Offset)
	}
}

func TestTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "aaaa\nbbbb\n")
	out, wake, _, _ := run(t, path, 0, Config{})
	collect(t, out, 2)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "c\n")
	wake <- struct{}{}
	got := collect(t, out, 1)
	if got[0].text != "c" || got[0].offset != 0 {
		t.Fatalf("after truncation got %+v", got)
	}
}

func TestRemovedReadToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, strings.Repeat("x\n", 1000)+"last without newline")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	out := make(chan *event.Chunk, 100)
	h := New(Config{CloseRemoved: true}, &event.Source{Path: path}, f, fileid.Position{}, out, nil, nil, slog.Default())
	if err := h.Run(t.Context()); !errors.Is(err, ErrRemoved) {
		t.Fatalf("Run = %v, want ErrRemoved", err)
	}
	close(out)
	var n int
	var last string
	for c := range out {
		n += len(c.Events)
		last = string(c.Events[len(c.Events)-1].Line)
	}
	if n != 1001 || last != "last without newline" {
		t.Fatalf("%d lines, last %q", n, last)
	}
}

func TestCloseInactive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.log")
		appendFile(t, path, "a\n")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan *event.Chunk, 10)
		h := New(Config{CloseInactive: time.Minute}, &event.Source{Path: path}, f, fileid.Position{}, out, nil, nil, slog.Default())
		start := time.Now()
		if err := h.Run(t.Context()); !errors.Is(err, ErrInactive) {
			t.Fatalf("Run = %v, want ErrInactive", err)
		}
		if d := time.Since(start); d < time.Minute || d > time.Minute+2*time.Second {
			t.Fatalf("closed after %v, want about 1m", d)
		}
		if len(out) != 1 || h.Position().Offset != 2 {
			t.Fatalf("chunks %d, offset %d", len(out), h.Position().Offset)
		}
	})
}

func TestStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "short\n"+strings.Repeat("y", 50)+"\n")
	f, _ := os.Open(path)
	out := make(chan *event.Chunk, 10)
	var st Stats
	h := New(Config{MaxBytes: 20}, &event.Source{Path: path}, f, fileid.Position{}, out, nil, &st, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-out; cancel() }()
	_ = h.Run(ctx)
	if st.Lines.Load() != 2 || st.Bytes.Load() != 57 || st.Truncated.Load() != 1 {
		t.Fatalf("stats: lines %d bytes %d truncated %d", st.Lines.Load(), st.Bytes.Load(), st.Truncated.Load())
	}
}

// A file truncated and written past the old offset before the harvester
// looked: the bytes before the offset changed, so it starts again at 0.
func TestTruncatedAndRegrown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "first line\n")
	var gotFP fileid.FingerprintValue
	var gotPos fileid.Position
	truncated := make(chan struct{}, 1)
	f, _ := os.Open(path)
	out := make(chan *event.Chunk, 10)
	wake := make(chan struct{}, 1)
	src := &event.Source{Path: path}
	fp, _ := fileid.HashHead(f, fileid.FingerprintSize)
	src.Fingerprint.Store(fp)
	h := New(Config{OnTruncate: func(old *event.Source, pos fileid.Position) {
		gotFP, gotPos = old.Fingerprint.Load(), pos
		truncated <- struct{}{}
	}}, src, f, fileid.Position{}, out, wake, nil, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	collect(t, out, 1)
	// Replace the content with a longer text, in place.
	if err := os.WriteFile(path, []byte("another, longer first line\nsecond\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	got := collect(t, out, 2)
	<-truncated
	cancel()
	<-done
	if got[0].text != "another, longer first line" || got[0].offset != 0 || got[1].text != "second" {
		t.Fatalf("after rewrite: %+v", got)
	}
	if gotFP != fp || gotPos.Offset != 11 {
		t.Fatalf("OnTruncate(%+v, %+v), want the old fingerprint and offset 11", gotFP, gotPos)
	}
}

func TestGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("one\ntwo\nthree"))
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from int64
		want string
	}{{0, "one,two,three"}, {4, "two,three"}} {
		f, _ := os.Open(path)
		out := make(chan *event.Chunk, 10)
		h := New(Config{Gzip: true}, &event.Source{Path: path}, f, fileid.Position{Offset: tc.from}, out, nil, nil, slog.Default())
		if err := h.Run(t.Context()); !errors.Is(err, ErrEOF) {
			t.Fatalf("Run = %v, want ErrEOF", err)
		}
		close(out)
		var lines []string
		for c := range out {
			for _, e := range c.Events {
				lines = append(lines, string(e.Line))
			}
		}
		if strings.Join(lines, ",") != tc.want || h.Position().Offset != 13 {
			t.Fatalf("from %d: %v, end %d", tc.from, lines, h.Position().Offset)
		}
	}
}

func TestCloseEOFAndRenamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, "x\n")
	f, _ := os.Open(path)
	out := make(chan *event.Chunk, 10)
	if err := New(Config{CloseEOF: true}, &event.Source{Path: path}, f, fileid.Position{}, out, nil, nil, slog.Default()).Run(t.Context()); !errors.Is(err, ErrEOF) {
		t.Fatalf("close_eof: Run = %v", err)
	}
	f, _ = os.Open(path)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := New(Config{CloseRenamed: true}, &event.Source{Path: path}, f, fileid.Position{}, out, nil, nil, slog.Default()).Run(t.Context()); !errors.Is(err, ErrRenamed) {
		t.Fatalf("close_renamed: Run = %v", err)
	}
}

// A deleted file whose lines cannot be sent (output stuck) is given up after
// close_removed_after, and its unread bytes are counted.
func TestCloseRemovedAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.log")
		appendFile(t, path, "one\ntwo\n")
		f, _ := os.Open(path)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		var st Stats
		out := make(chan *event.Chunk) // nobody receives
		h := New(Config{CloseRemoved: true, CloseRemovedAfter: time.Minute}, &event.Source{Path: path}, f, fileid.Position{}, out, nil, &st, slog.Default())
		start := time.Now()
		if err := h.Run(t.Context()); !errors.Is(err, ErrAbandoned) {
			t.Fatalf("Run = %v", err)
		}
		if d := time.Since(start); d < time.Minute || d > 2*time.Minute {
			t.Fatalf("abandoned after %v", d)
		}
		if st.Abandoned.Load() != 8 || h.Position().Offset != 0 {
			t.Fatalf("abandoned %d bytes, position %d", st.Abandoned.Load(), h.Position().Offset)
		}
	})
}

// The fingerprint of a short file grows with it up to the fingerprint size.
func TestFingerprintGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "short\n")
	f, _ := os.Open(path)
	src := &event.Source{Path: path}
	fp, _ := fileid.HashHead(f, fileid.FingerprintSize)
	src.Fingerprint.Store(fp)
	out := make(chan *event.Chunk, 100)
	wake := make(chan struct{}, 1)
	h := New(Config{}, src, f, fileid.Position{}, out, wake, nil, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	<-out
	appendFile(t, path, strings.Repeat("y", 2000)+"\n")
	wake <- struct{}{}
	<-out
	deadline := time.Now().Add(5 * time.Second)
	for src.Fingerprint.Load().Len != fileid.FingerprintSize && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := src.Fingerprint.Load(); got.Len != fileid.FingerprintSize || got == fp {
		t.Fatalf("fingerprint %+v, was %+v", got, fp)
	}
}

// A file of over-long lines is counted line by line but logged at most once
// per interval, not once a line.
func TestTruncatedLinesLoggedAtARate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, strings.Repeat(strings.Repeat("x", 50)+"\n", 100))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	stats := new(Stats)
	out := make(chan *event.Chunk, 100)
	h := New(Config{MaxBytes: 10, CloseEOF: true}, &event.Source{ID: "x", Path: path}, f, fileid.Position{}, out, nil, stats,
		slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
	if err := h.Run(t.Context()); !errors.Is(err, ErrEOF) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := stats.Truncated.Load(); n != 100 {
		t.Fatalf("%d truncated lines counted, want 100", n)
	}
	if n := strings.Count(logs.String(), "line truncated"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Lines read before a truncation keep the Source (and so the fingerprint)
// of the content they were read from: their offsets, committed after the
// harvester moved on to the new content, are not recorded under its head.
func TestTruncationRenewsSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "old content line\n")
	f, _ := os.Open(path)
	src := &event.Source{ID: "x", Path: path}
	fp, _ := fileid.HashHead(f, fileid.FingerprintSize)
	src.Fingerprint.Store(fp)
	out := make(chan *event.Chunk, 10)
	wake := make(chan struct{}, 1)
	h := New(Config{}, src, f, fileid.Position{}, out, wake, nil, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	first := <-out
	if err := os.WriteFile(path, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	second := <-out
	cancel()
	<-done
	a, b := first.Events[0].Source, second.Events[0].Source
	if a == b || a.Fingerprint.Load() != fp || b.Fingerprint.Load() == fp || h.Source() != b {
		t.Fatalf("sources: before %p (fp %v), after %p (fp %v), current %p; old fp %v", a, a.Fingerprint.Load(), b, b.Fingerprint.Load(), h.Source(), fp)
	}
}

// A file truncated to nothing commits its new content's start: the registry
// must not keep the old content's offset for it until something is written
// (found by TestModel, seed 2).
func TestTruncatedToEmptyCommitsItsStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "some line\n")
	out, wake, h, stop := run(t, path, 0, Config{})
	collect(t, out, 1)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	select {
	case c := <-out:
		e := c.Events[0]
		if !e.Skip || event.PositionAfter(&e).Offset != 0 || e.Source != h.Source() || e.Source.ID != "x" {
			t.Fatalf("after truncation: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing sent after the truncation")
	}
	_ = stop()
}

// Files behind while the output is blocked hold no read buffer or chunk
// unless the gate admitted them: the heap stays at a few chunks however
// many files wait. Without the gate every file held both (128 KiB each).
// Once the output takes chunks again, every file is read whole.
func TestGateBoundsReaders(t *testing.T) {
	const files, lines = 100, 2000 // 100 files of 200 KB
	dir := t.TempDir()
	line := strings.Repeat("x", 99) + "\n"
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte(strings.Repeat(line, lines)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	synctest.Test(t, func(t *testing.T) {
		gate := NewGate(2)
		out := make(chan *event.Chunk)
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			h := New(Config{Gate: gate, CloseEOF: true}, &event.Source{Path: p}, f, fileid.Position{}, out, nil, nil, slog.Default())
			wg.Go(func() { _ = h.Run(ctx) })
		}
		synctest.Wait() // every harvester blocked: on the output or at the gate
		var blocked runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&blocked)
		if grew := int64(blocked.HeapInuse) - int64(before.HeapInuse); grew > 4<<20 {
			t.Errorf("heap grew %d KiB with the output blocked and %d files behind", grew>>10, files)
		}
		// Every file has had a chunk taken: one it sent is not its to hold.
		got := 0
		for range 2 * files {
			got += len((<-out).Events)
		}
		synctest.Wait()
		runtime.GC()
		runtime.ReadMemStats(&blocked)
		if grew := int64(blocked.HeapInuse) - int64(before.HeapInuse); grew > 4<<20 {
			t.Errorf("heap grew %d KiB after %d chunks were taken and dropped", grew>>10, 2*files)
		}
		for got < files*lines {
			got += len((<-out).Events)
		}
		cancel()
		wg.Wait()
	})
}

// A file truncated and written again with other content while the
// harvester is between two reads (it waits to hand on what it read): the
// next read would return the new content's bytes at the old content's
// offsets. They are not sent as the old content's; the new content is read
// from its start, whole, and the old content's position goes to OnTruncate.
func TestTruncatedAndRewrittenBetweenReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	var old strings.Builder
	for i := range 8 {
		fmt.Fprintf(&old, "old line %05d\n", i) // 15 bytes each
	}
	appendFile(t, path, old.String())
	truncatedAt := make(chan int64, 1)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	src := &event.Source{ID: "x", Path: path}
	fp, _ := fileid.HashHead(f, fileid.FingerprintSize) // as the prospector does
	src.Fingerprint.Store(fp)
	ch := make(chan *event.Chunk)
	h := New(Config{ReadBufferSize: 30, ChunkEvents: 1, OnTruncate: func(_ *event.Source, pos fileid.Position) {
		truncatedAt <- pos.Offset
	}}, src, f, fileid.Position{}, ch, nil, nil, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	stop := func() error {
		cancel()
		err := <-done
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	// The first read's two lines: the harvester then waits to hand on
	// the second while the file is replaced.
	if got := collect(t, ch, 1); got[0].text != "old line 00000" {
		t.Fatalf("first line %+v", got)
	}
	var repl strings.Builder
	for i := range 8 {
		fmt.Fprintf(&repl, "NEW LINE %05d\n", i)
	}
	if err := os.WriteFile(path, []byte(repl.String()), 0o644); err != nil { // truncates, then writes
		t.Fatal(err)
	}
	got := collect(t, ch, 9)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got[0].text != "old line 00001" {
		t.Fatalf("the old content's second line, read before the rewrite, not sent: %+v", got)
	}
	for i, l := range got[1:] {
		if want := fmt.Sprintf("NEW LINE %05d", i); l.text != want || l.offset != int64(15*i) {
			t.Fatalf("after the rewrite, line %d is %+v, want %q at %d: the new content whole, from its start", i, l, want, 15*i)
		}
	}
	if off := <-truncatedAt; off != 30 {
		t.Fatalf("the old content's position %d, want 30 (its two lines sent)", off)
	}
}
