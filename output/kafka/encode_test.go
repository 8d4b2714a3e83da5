package kafka

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logship/logship/event"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"plain", `q"uo\te`, "tab\tnl\n\x00\x1f", "ünï", "\xff\xfe bad", "\u2028\u2029"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		enc := event.AppendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("not JSON: %v: %s", err, enc)
		}
		want := strings.ToValidUTF8(string(s), "\ufffd")
		if utf8.Valid(s) && got != want {
			t.Fatalf("round trip %q -> %q", s, got)
		}
		if !utf8.Valid(s) && utf8.RuneCountInString(got) < 1 && len(s) > 0 {
			t.Fatalf("invalid input lost: %q -> %q", s, got)
		}
	})
}

func TestFieldsUnderRoot(t *testing.T) {
	enc := encoder{hostName: "h"}
	src := &event.Source{Path: "/a.log", Input: &event.Input{Type: "log", FieldsJSON: []byte(`{"env":"prod"}`), FieldsUnderRoot: true}}
	v := enc.appendValue(nil, &event.Event{Source: src, Line: []byte("x"), Time: time.Now()})
	var m map[string]any
	if err := json.Unmarshal(v, &m); err != nil {
		t.Fatal(err)
	}
	if m["env"] != "prod" || m["fields"] != nil {
		t.Fatalf("fields not at the root: %s", v)
	}
}

func BenchmarkEncodeJSON(b *testing.B) {
	enc := encoder{hostName: "host-01"}
	src := &event.Source{Path: "/var/log/app/service.log", Input: &event.Input{Type: "log", FieldsJSON: []byte(`{"service":"web"}`)}}
	line := bytes.Repeat([]byte("abcdefghij"), 20)
	e := &event.Event{Source: src, Line: line, Time: time.Now(), Offset: 123456}
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.appendValue(buf[:0], e)
	}
}
