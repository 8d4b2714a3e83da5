package fileid

import (
	"bytes"
	"strings"
	"testing"
)

func TestPositionCheck(t *testing.T) {
	long := strings.Repeat("z", 100)
	orig := []byte("first\r\nsecond " + long + "\nthird\n")
	after := func(line string, end int, trunc bool) Position {
		return PositionAfterLine([]byte(line), int64(end), trunc)
	}
	p1 := after("first", 7, false)                              // a CRLF line
	p2 := after("second "+long, 7+len("second "+long)+1, false) // longer than the tail
	for _, tc := range []struct {
		name string
		file []byte
		pos  Position
		want bool
	}{
		{"start", orig, Position{}, true},
		{"after crlf line", orig, p1, true},
		{"after long line", orig, p2, true},
		{"truncated line: newline only", orig, after("xx", 7, true), true},
		{"other content, same offsets", bytes.Replace(orig, []byte("first"), []byte("FIRST"), 1), p1, false},
		{"not at a line end", orig, Position{Offset: 5, TailLen: 0}, false},
		{"past the end", orig, Position{Offset: 1000}, false},
		{"negative", orig, Position{Offset: -1}, false},
	} {
		if got := tc.pos.Check(bytes.NewReader(tc.file)); got != tc.want {
			t.Errorf("%s: Check = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHashHead(t *testing.T) {
	short, _ := HashHead(bytes.NewReader([]byte("abc")), FingerprintSize)
	if short.Len != 3 {
		t.Fatalf("Len = %d", short.Len)
	}
	big := bytes.Repeat([]byte("x"), 2000)
	full, _ := HashHead(bytes.NewReader(big), FingerprintSize)
	same, _ := HashHead(bytes.NewReader(append(big[:1024:1024], "different tail"...)), FingerprintSize)
	if full.Len != FingerprintSize || full != same {
		t.Fatalf("%+v %+v", full, same)
	}
}
