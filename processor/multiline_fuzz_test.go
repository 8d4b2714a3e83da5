package processor

import (
	"strconv"
	"strings"
	"testing"

	"github.com/logship/logship/event"
)

// FuzzMultiline drives the multiline state machine with any lines and
// settings: never a panic; events cover the lines in order, each the join
// of consecutive lines (unless truncated), with commits that never go back
// and end at the end of the input.
func FuzzMultiline(f *testing.F) {
	f.Add("a\n b\n c\nd\n", uint8(0), true, false, uint8(5))
	f.Add("x\\\ny\\\nz\n", uint8(0), false, true, uint8(2))
	f.Add("1\n2\n3\n", uint8(1), false, false, uint8(2))
	f.Add(" a\n b\nc\n d\n", uint8(2), false, false, uint8(100))
	f.Fuzz(func(t *testing.T, text string, typ uint8, negate, before bool, limit uint8) {
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		if len(lines) > 200 {
			return
		}
		cfg := []string{
			`{pattern: '^\s|\\$', negate: %n, match: %m, max_lines: %l}`,
			`{type: count, count_lines: %l, max_lines: %l}`,
			`{type: while_pattern, pattern: '^\s', negate: %n, max_lines: %l}`,
			`{pattern: '^\s', match: %m, flush_pattern: '^END', max_lines: %l, max_bytes: 64}`,
		}[int(typ)%4]
		m := "after"
		if before {
			m = "before"
		}
		n := "false"
		if negate {
			n = "true"
		}
		l := int(limit%20) + 1
		cfg = strings.NewReplacer("%n", n, "%m", m, "%l", strconv.Itoa(l)).Replace(cfg)
		events := feed(t, mustNew(t, input(t, "multiline: "+cfg)), "/x.log", lines)
		i := 0
		var last int64
		for k, e := range events {
			var off int64
			for _, ln := range lines[:i] {
				off += int64(len(ln)) + 1
			}
			if e.Offset != off {
				t.Fatalf("event %d starts at %d, want %d", k, e.Offset, off)
			}
			// How many lines: up to the event's end.
			j, end := i, off
			for end < e.End && j < len(lines) {
				end += int64(len(lines[j])) + 1
				j++
			}
			if end != e.End || j == i {
				t.Fatalf("event %d ends at %d, not at a line end", k, e.End)
			}
			if !e.Truncated && string(e.Line) != strings.Join(lines[i:j], "\n") {
				t.Fatalf("event %d = %q, want lines %d..%d", k, e.Line, i, j)
			}
			if c := event.PositionAfter(&e).Offset; c < last {
				t.Fatalf("commit went back")
			} else {
				last = c
			}
			i = j
		}
		if i != len(lines) {
			t.Fatalf("events cover %d of %d lines", i, len(lines))
		}
	})
}
