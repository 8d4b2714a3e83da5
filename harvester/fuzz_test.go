package harvester

import (
	"bytes"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
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
		got, h := splitInPieces(t, Config{MaxBytes: mb}, data, step)
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
			// Bytes that are not UTF-8 become U+FFFD, each, and flag the line.
			want, invalid := replaceInvalid(want)
			e := got[i]
			end := off + int64(len(p)) + 1
			if !bytes.Equal(e.Line, want) || e.Truncated != trunc || e.Offset != off || e.End != end {
				t.Fatalf("line %d = %q [%d,%d) trunc %v; want %q [%d,%d) trunc %v", i, e.Line, e.Offset, e.End, e.Truncated, want, off, end, trunc)
			}
			if got := e.Flags&event.FlagInvalidUTF8 != 0; got != invalid {
				t.Fatalf("line %d: invalid_utf8 flag %v, want %v", i, got, invalid)
			}
			off = end
		}
		if h.Position().Offset != off {
			t.Fatalf("Offset = %d, want %d", h.Position().Offset, off)
		}
	})
}

// splitInPieces feeds data to a harvester's line splitter step bytes at a
// time, as reads of that size would, and returns the events of the
// complete lines (in small chunks, so chunk boundaries are crossed too) and
// the harvester.
func splitInPieces(t *testing.T, cfg Config, data []byte, step int) ([]event.Event, *Harvester) {
	t.Helper()
	cfg.ChunkEvents, cfg.ChunkBytes = 3, 8
	out := make(chan *event.Chunk, len(data)+1)
	h := New(cfg, &event.Source{}, nil, fileid.Position{}, out, nil, nil, slog.Default())
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
	return got, h
}

// replaceInvalid is the oracle for the harvester's UTF-8 check: every byte
// that does not start a valid sequence becomes U+FFFD.
func replaceInvalid(b []byte) ([]byte, bool) {
	if utf8.Valid(b) {
		return b, false
	}
	var out []byte
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out, true
}
