package processor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/harvester"
)

// harvest runs a real harvester with the pipeline on path from pos until
// want events (skips not counted) arrived, then stops it as a shutdown does
// and returns the events and where a new harvester resumes.
func harvest(t *testing.T, p *Pipeline, path string, pos fileid.Position, want int) ([]event.Event, fileid.Position) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *event.Chunk)
	src := &event.Source{ID: "x", Path: path, Input: &event.Input{Type: "log"}}
	h := harvester.New(harvester.Config{Pipeline: p.Chain, Backoff: 10 * time.Millisecond}, src, f, pos, out, nil, nil, slog.Default())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var got []event.Event
	n := 0
	timeout := time.After(10 * time.Second)
	for n < want {
		select {
		case c := <-out:
			for _, e := range c.Events {
				got = append(got, e)
				if !e.Skip {
					n++
				}
			}
		case <-timeout:
			t.Fatalf("%d of %d events", n, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return got, h.Position()
}

// A restart in the middle of a pending multiline event resumes at the
// event's first line: the event arrives once, whole.
func TestRestartInPendingMultiline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write := func(s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	p := mustNew(t, input(t, `multiline: {pattern: '^\d{4}-', negate: true, match: after, timeout: 1h}`))
	first := "2026-11-21 one\n"
	write(first + "2026-11-21 two fails\njava.lang.Error: x\n\tat a.b(C.java:1)\n")
	got, pos := harvest(t, p, path, fileid.Position{}, 1)
	if len(got) != 1 || string(got[0].Line) != "2026-11-21 one" {
		t.Fatalf("first run: %q", messages(got))
	}
	if pos.Offset != int64(len(first)) {
		t.Fatalf("resume at %d, want %d (the start of the pending event)", pos.Offset, len(first))
	}
	f, _ := os.Open(path)
	ok := pos.Check(f)
	f.Close()
	if !ok {
		t.Fatal("the resume position does not check against the file")
	}
	write("\tat d.e(F.java:2)\n2026-11-21 three\n")
	got, pos = harvest(t, p, path, pos, 1)
	want := "2026-11-21 two fails\njava.lang.Error: x\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)"
	if len(got) != 1 || string(got[0].Line) != want || got[0].Offset != int64(len(first)) {
		t.Fatalf("second run: %q", messages(got))
	}
	if fi, _ := os.Stat(path); pos.Offset != fi.Size()-int64(len("2026-11-21 three\n")) {
		t.Fatalf("resume at %d", pos.Offset)
	}
}

// Lines a filter drops still move the resume position on.
func TestDroppedLinesAdvance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte("DEBUG a\nDEBUG b\nINFO c\nDEBUG d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustNew(t, input(t, `exclude_lines: ['^DEBUG']`))
	f, _ := os.Open(path)
	out := make(chan *event.Chunk, 10)
	h := harvester.New(harvester.Config{Pipeline: p.Chain, CloseEOF: true}, &event.Source{ID: "x", Path: path}, f, fileid.Position{}, out, nil, nil, slog.Default())
	if err := h.Run(t.Context()); !errors.Is(err, harvester.ErrEOF) {
		t.Fatal(err)
	}
	close(out)
	var events []event.Event
	for c := range out {
		events = append(events, c.Events...)
	}
	// skip (a, b), INFO c, skip (d): consecutive skips are one event.
	if len(events) != 3 || !events[0].Skip || string(events[1].Line) != "INFO c" || !events[2].Skip {
		t.Fatalf("events %+v", events)
	}
	if pos := h.Position(); pos.Offset != 31 {
		t.Fatalf("resume at %d, want 31", pos.Offset)
	}
}
