package harvester

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/logship/logship/event"
)

// FuzzSplit feeds data in pieces of varying size and checks the lines, their
// offsets and truncation against a plain bytes.Split of the whole.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("a\nbb\r\nccc"), uint8(2), uint8(4))
	f.Add([]byte("\n\n\r\n"), uint8(1), uint8(1))
	f.Add(bytes.Repeat([]byte("x"), 40), uint8(7), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, piece, maxBytes uint8) {
		step := int(piece%16) + 1
		mb := int(maxBytes%32) + 1
		out := make(chan *event.Chunk, len(data)+1)
		h := New(Config{MaxBytes: mb, ChunkEvents: 3, ChunkBytes: 8}, &event.Source{}, nil, event.Position{}, out, nil, nil, slog.Default())
		for i := 0; i < len(data); i += step {
			if err := h.split(t.Context(), data[i:min(i+step, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		close(out)
		var got []event.Event
		for c := range out {
			got = append(got, c.Events...)
		}
		parts := bytes.Split(data, []byte("\n"))
		parts = parts[:len(parts)-1] // the last part has no newline: held
		if len(got) != len(parts) {
			t.Fatalf("%d lines, want %d", len(got), len(parts))
		}
		var off int64
		for i, p := range parts {
			want, trunc := p, false
			if len(want) > mb {
				want, trunc = want[:mb], true
			} else {
				want = bytes.TrimSuffix(want, []byte("\r"))
			}
			e := got[i]
			end := off + int64(len(p)) + 1
			if !bytes.Equal(e.Line, want) || e.Truncated != trunc || e.Offset != off || e.End != end {
				t.Fatalf("line %d = %q [%d,%d) trunc %v; want %q [%d,%d) trunc %v", i, e.Line, e.Offset, e.End, e.Truncated, want, off, end, trunc)
			}
			off = end
		}
		if h.Position().Offset != off {
			t.Fatalf("Offset = %d, want %d", h.Position().Offset, off)
		}
	})
}
