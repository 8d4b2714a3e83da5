package harvester

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

func TestEncodings(t *testing.T) {
	utf16Lines := []string{"2026-11-21 12:00:00 INFO Démarrage du service", "2026-11-21 12:00:01 WARN Größe überschritten: 日本語", "plain ascii line"}
	for _, tc := range []struct {
		file, encoding string
		want           []string
		invalid        []bool
	}{
		{"utf16le-bom.log", "utf-16le", utf16Lines, nil},
		{"utf16le-bom.log", "utf-16be", utf16Lines, nil}, // the BOM wins
		{"utf16be-bom.log", "utf-16", utf16Lines, nil},
		{"utf16be-bom.log", "utf-16be", utf16Lines, nil},
		{"utf16le-nobom.log", "utf-16", utf16Lines, nil},
		{"latin1.log", "latin1", []string{"café crème brûlée", "naïve résumé"}, nil},
		{"latin1.log", "ISO-8859-1", []string{"café crème brûlée", "naïve résumé"}, nil},
		{"latin1.log", "utf-8", []string{"caf\uFFFD cr\uFFFDme br\uFFFDl\uFFFDe", "na\uFFFDve r\uFFFDsum\uFFFD"}, []bool{true, true}},
		{"invalid-utf8.log", "utf-8", []string{"good line", "bad \uFFFD\uFFFD bytes", "\uFEFFnot a bom here"}, []bool{false, true, false}},
		{"utf8-bom.log", "utf-8", []string{"first line", "second"}, nil},
	} {
		t.Run(tc.file+"/"+tc.encoding, func(t *testing.T) {
			enc, err := LookupEncoding(tc.encoding)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			read := func(from fileid.Position) []event.Event {
				return readAll(t, path, from, Config{Encoding: enc, ReadBufferSize: 7}, nil)
			}
			got := read(fileid.Position{})
			if len(got) != len(tc.want) {
				t.Fatalf("%d events, want %d", len(got), len(tc.want))
			}
			f, _ := os.Open(path)
			defer f.Close()
			for i, e := range got {
				if string(e.Line) != tc.want[i] {
					t.Errorf("line %d = %q, want %q", i, e.Line, tc.want[i])
				}
				if inv := e.Flags&event.FlagInvalidUTF8 != 0; inv != (tc.invalid != nil && tc.invalid[i]) {
					t.Errorf("line %d: invalid_utf8 flag %v", i, inv)
				}
				if !event.PositionAfter(&e).Check(f) {
					t.Errorf("line %d: the position after it does not check against the file", i)
				}
			}
			if last := got[len(got)-1]; last.End != int64(len(data)) {
				t.Errorf("last line ends at %d, want %d", last.End, len(data))
			}
			// Resuming after the first line reads the rest.
			rest := read(event.PositionAfter(&got[0]))
			if len(rest) != len(tc.want)-1 || string(rest[0].Line) != tc.want[1] {
				t.Errorf("resumed: %d events, first %q", len(rest), rest[0].Line)
			}
		})
	}
}

// readAll reads a file from a position to its end (close_eof) and returns
// its events.
func readAll(t *testing.T, path string, from fileid.Position, cfg Config, pipeline func(*event.Source) Processor) []event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.CloseEOF, cfg.Pipeline = true, pipeline
	out := make(chan *event.Chunk, 1000)
	h := New(cfg, &event.Source{ID: "x", Path: path}, f, from, out, nil, nil, slog.Default())
	if err := h.Run(t.Context()); !errors.Is(err, ErrEOF) {
		t.Fatalf("Run = %v, want ErrEOF", err)
	}
	close(out)
	var got []event.Event
	for c := range out {
		got = append(got, c.Events...)
	}
	return got
}

func TestLookupEncoding(t *testing.T) {
	for _, name := range []string{"utf-8", "UTF-16LE", "utf-16be", "utf-16", "latin1", "windows-1252", "shift_jis", "gbk", "euc-jp", "big5", "koi8-r"} {
		if _, err := LookupEncoding(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"klingon", "utf-32"} {
		if _, err := LookupEncoding(name); !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: err = %v, want ErrEncoding", name, err)
		}
	}
}

// FuzzSplit16 encodes text as UTF-16 (either byte order), feeds it in
// pieces of any size, and checks the lines that come out decode to the
// text's lines, with the right offsets.
func FuzzSplit16(f *testing.F) {
	f.Add("a\nbé\r\n日本\n", uint8(1), false)
	f.Add("\n\n\U0001F600\n", uint8(3), true)
	f.Fuzz(func(t *testing.T, text string, piece uint8, big bool) {
		text = strings.ToValidUTF8(text, "\uFFFD")
		name := "utf-16le"
		order := binary.AppendByteOrder(binary.LittleEndian)
		if big {
			name, order = "utf-16be", binary.BigEndian
		}
		enc, err := LookupEncoding(name)
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		for _, u := range utf16.Encode([]rune(text)) {
			data = order.AppendUint16(data, u)
		}
		got, _ := splitInPieces(t, Config{Encoding: enc}, data, int(piece%9)+1)
		want := strings.Split(text, "\n")
		want = want[:len(want)-1] // after the last newline: held
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d", len(got), len(want))
		}
		var off int64
		for i, e := range got {
			w := strings.TrimSuffix(want[i], "\r")
			if w == "\uFEFF"+strings.TrimPrefix(w, "\uFEFF") && i == 0 {
				w = strings.TrimPrefix(w, "\uFEFF") // a byte-order mark
			}
			if string(e.Line) != w {
				t.Fatalf("line %d = %q, want %q", i, e.Line, w)
			}
			units := len(utf16.Encode([]rune(want[i]))) + 1
			if e.Offset != off || e.End != off+int64(2*units) {
				t.Fatalf("line %d at [%d,%d), want [%d,%d)", i, e.Offset, e.End, off, off+int64(2*units))
			}
			off = e.End
		}
	})
}
