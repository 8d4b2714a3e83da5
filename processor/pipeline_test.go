package processor

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"gopkg.in/yaml.v3"
)

// input decodes an inputs[] entry from YAML, with its defaults.
func input(t testing.TB, doc string) *config.Input {
	t.Helper()
	var in config.Input
	if err := yaml.Unmarshal([]byte(doc), &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Paths) == 0 {
		in.Paths = []string{"/x"}
	}
	return &in
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// feed runs lines (without newlines) through a chain as a harvester
// would, then flushes it, and returns every event with its line copied.
func feed(t testing.TB, p *Pipeline, path string, lines []string) []event.Event {
	t.Helper()
	src := &event.Source{ID: "x", Path: path, Input: &event.Input{Type: "log"}}
	c := p.Chain(src)
	var got []event.Event
	take := func() {
		for _, e := range c.Events() {
			e.Line = bytes.Clone(e.Line)
			got = append(got, e)
		}
	}
	var off int64
	before := fileid.Position{}
	for i, l := range lines {
		end := off + int64(len(l)) + 1
		after := fileid.PositionAfterLine([]byte(l), end, false)
		c.Line(&event.Raw{Text: []byte(l), Offset: off, End: end, Before: before, After: after, Time: t0.Add(time.Duration(i) * time.Millisecond)})
		take()
		off, before = end, after
	}
	c.Flush()
	take()
	if _, ok := c.Pending(); ok {
		t.Fatal("events pending after Flush")
	}
	return got
}

func readLines(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func mustNew(t testing.TB, in *config.Input) *Pipeline {
	t.Helper()
	p, err := New(in, Options{HostName: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		t.Fatal("no pipeline")
	}
	return p
}

func messages(events []event.Event) []string {
	var out []string
	for _, e := range events {
		if !e.Skip {
			out = append(out, string(e.Line))
		}
	}
	return out
}

// checkOffsets checks that events cover the lines in order: each starts
// where a line starts, the commit positions never go back, and the last
// commit is the end of the input.
func checkOffsets(t *testing.T, events []event.Event, lines []string) {
	t.Helper()
	starts := map[int64]bool{}
	var off int64
	for _, l := range lines {
		starts[off] = true
		off += int64(len(l)) + 1
	}
	var last int64
	for i, e := range events {
		if !starts[e.Offset] {
			t.Errorf("event %d starts at %d, not at a line", i, e.Offset)
		}
		if c := event.PositionAfter(&e).Offset; c < last {
			t.Errorf("event %d commits %d, before %d", i, c, last)
		} else {
			last = c
		}
	}
	if last != off {
		t.Errorf("last commit %d, want %d (the end)", last, off)
	}
}

func TestMultiline(t *testing.T) {
	java, python, golang := readLines(t, "java.log"), readLines(t, "python.log"), readLines(t, "go.log")
	for _, tc := range []struct {
		name   string
		cfg    string
		lines  []string
		want   []int // lines per event
		trunc  []int // events flagged truncated
		prefix []string
	}{
		{"java by timestamp", `multiline: {pattern: '^\d{4}-\d{2}-\d{2}', negate: true, match: after}`, java, []int{9, 1, 1}, nil, []string{"2026-11-21 12:00:00.123 ERROR", "2026-11-21 12:00:00.456 INFO", "2026-11-21 12:00:01.001 WARN"}},
		{"java stack frames", `multiline: {pattern: '^[[:space:]]+(at|\.{3})[[:space:]]+\b|^Caused by:', match: after}`, java, []int{1, 8, 1, 1}, nil, []string{"2026", "java.lang.IllegalStateException", "2026", "2026"}},
		{"python traceback", `multiline: {pattern: '^\d{4}-\d{2}-\d{2}', negate: true, match: after}`, python, []int{1, 14, 1}, nil, []string{"2026-11-21 12:00:00,123 INFO", "2026-11-21 12:00:01,456 ERROR", "2026-11-21 12:00:02,000 INFO"}},
		{"go panic", `multiline: {pattern: '^(\d{4}/\d{2}/\d{2} |panic: |fatal error: )', negate: true, match: after}`, golang, []int{1, 9, 1}, nil, []string{"2026/11/21 12:00:00", "panic: runtime error", "2026/11/21 12:00:05"}},
		{"before: continued lines", `multiline: {pattern: '\\$', match: before}`, []string{`a \`, `b \`, "c", "d"}, []int{3, 1}, nil, nil},
		{"before negated", `multiline: {pattern: ';$', negate: true, match: before}`, []string{"SELECT *", "FROM t;", "SELECT 1;"}, []int{2, 1}, nil, nil},
		{"count", `multiline: {type: count, count_lines: 2}`, []string{"1", "2", "3", "4", "5"}, []int{2, 2, 1}, nil, nil},
		{"while_pattern", `multiline: {type: while_pattern, pattern: '^\s'}`, []string{"x", " a", " b", "y", " c"}, []int{1, 2, 1, 1}, nil, nil},
		{"flush_pattern", `multiline: {pattern: '^BEGIN', negate: true, match: after, flush_pattern: '^END'}`, []string{"BEGIN", "a", "END", "b", "BEGIN", "c"}, []int{3, 1, 2}, nil, nil},
		{"max_lines", `multiline: {pattern: '^\s', match: after, max_lines: 3}`, []string{"x", " 1", " 2", " 3", " 4", "y"}, []int{5, 1}, []int{0}, nil},
		{"parsers form", `parsers: [{multiline: {pattern: '^\s', match: after}}]`, []string{"x", " 1", "y"}, []int{2, 1}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, input(t, tc.cfg))
			events := feed(t, p, "/var/log/app.log", tc.lines)
			if len(events) != len(tc.want) {
				t.Fatalf("%d events, want %d: %q", len(events), len(tc.want), messages(events))
			}
			i := 0
			for n, e := range events {
				want := strings.Join(tc.lines[i:i+tc.want[n]], "\n")
				if slices.Contains(tc.trunc, n) {
					want = strings.Join(tc.lines[i:i+3], "\n") // max_lines
				}
				if string(e.Line) != want {
					t.Errorf("event %d = %q, want %q", n, e.Line, want)
				}
				if multi := e.Flags&event.FlagMultiline != 0; multi != (tc.want[n] > 1) {
					t.Errorf("event %d: multiline flag %v", n, multi)
				}
				if e.Truncated != slices.Contains(tc.trunc, n) {
					t.Errorf("event %d: truncated %v", n, e.Truncated)
				}
				if tc.prefix != nil && !strings.HasPrefix(string(e.Line), tc.prefix[n]) {
					t.Errorf("event %d starts %q, want %q", n, e.Line[:min(30, len(e.Line))], tc.prefix[n])
				}
				if !e.Time.Equal(t0.Add(time.Duration(i) * time.Millisecond)) {
					t.Errorf("event %d: time %v, want its first line's", n, e.Time)
				}
				i += tc.want[n]
			}
			checkOffsets(t, events, tc.lines)
		})
	}
}

func TestMultilineMaxBytes(t *testing.T) {
	p := mustNew(t, input(t, `multiline: {pattern: '^\s', match: after, max_bytes: 10}`))
	events := feed(t, p, "/x.log", []string{"abcdef", " ghijkl", " mn", "z"})
	if got := messages(events); !slices.Equal(got, []string{"abcdef\n gh", "z"}) || !events[0].Truncated {
		t.Fatalf("events %q (truncated %v)", got, events[0].Truncated)
	}
}

// A pending event is held back: the harvester's resume position is its
// first line until it is complete, and the timeout completes it.
func TestMultilinePendingAndTimeout(t *testing.T) {
	p := mustNew(t, input(t, `multiline: {pattern: '^\s', match: after, timeout: 5s}`))
	c := p.Chain(&event.Source{ID: "x", Path: "/x.log"})
	line := func(text string, off int64, before fileid.Position, read time.Time) fileid.Position {
		end := off + int64(len(text)) + 1
		after := fileid.PositionAfterLine([]byte(text), end, false)
		c.Line(&event.Raw{Text: []byte(text), Offset: off, End: end, Before: before, After: after, Time: read})
		return after
	}
	a1 := line("first", 0, fileid.Position{}, t0)
	if len(c.Events()) != 0 {
		t.Fatal("an event before its end is known")
	}
	if pos, ok := c.Pending(); !ok || pos.Offset != 0 {
		t.Fatalf("pending at %v %v, want offset 0", pos, ok)
	}
	a2 := line(" more", 6, a1, t0.Add(time.Second))
	if d := c.Deadline(); !d.Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("deadline %v, want 5s after the last line", d)
	}
	c.Expire(t0.Add(6*time.Second - 1))
	if len(c.Events()) != 0 {
		t.Fatal("expired early")
	}
	c.Expire(t0.Add(6 * time.Second))
	ev := c.Events()
	if len(ev) != 1 || string(ev[0].Line) != "first\n more" || event.PositionAfter(&ev[0]) != a2 {
		t.Fatalf("after the timeout: %+v", ev)
	}
	if _, ok := c.Pending(); ok || !c.Deadline().IsZero() {
		t.Fatal("still pending after the timeout")
	}
}
