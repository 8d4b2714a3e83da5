package kafka

import (
	"bytes"
	"encoding/json"
	"reflect"
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

// Events shaped by line processing: flags, shared container fields, and
// documents, in both codecs.
func TestEncodeProcessed(t *testing.T) {
	src := &event.Source{Path: "/var/log/pods/a_b_c/d/0.log", Input: &event.Input{Type: "container"}}
	meta := &event.Meta{Fields: map[string]any{"stream": "stderr"}, JSON: []byte(`"stream":"stderr","kubernetes":{"pod":{"name":"b"}}`)}
	when := time.Date(2026, 11, 21, 12, 0, 0, 123e6, time.UTC)
	flagged := &event.Event{Source: src, Line: []byte("a\nb"), Time: when, Meta: meta, Truncated: true, Flags: event.FlagMultiline | event.FlagCommit}
	doc := &event.Event{Source: src, Line: []byte(`{"msg":"x"}`), Time: when, Doc: map[string]any{"message": "x", "level": "info", "@timestamp": when}}
	noMsg := &event.Event{Source: src, Line: []byte("raw"), Doc: map[string]any{"level": "info"}}

	enc := encoder{hostName: "h"}
	var m map[string]any
	v := enc.appendValue(nil, flagged)
	if err := json.Unmarshal(v, &m); err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	log := m["log"].(map[string]any)
	if m["message"] != "a\nb" || m["stream"] != "stderr" || m["kubernetes"] == nil || m["@timestamp"] != "2026-11-21T12:00:00.123Z" {
		t.Fatalf("flagged event: %s", v)
	}
	if flags, _ := json.Marshal(log["flags"]); string(flags) != `["truncated","multiline"]` {
		t.Fatalf("flags %s", flags)
	}
	if v := enc.appendValue(nil, doc); string(v) != `{"@timestamp":"2026-11-21T12:00:00.123Z","level":"info","message":"x"}` {
		t.Fatalf("document: %s", v)
	}
	raw := encoder{raw: true}
	if v := raw.appendValue(nil, doc); string(v) != "x" {
		t.Fatalf("raw document: %q, want its message", v)
	}
	if v := raw.appendValue(nil, noMsg); string(v) != `{"level":"info"}` {
		t.Fatalf("raw document without a message: %q, want the whole document", v)
	}
}

func BenchmarkEncodeDoc(b *testing.B) {
	enc := encoder{hostName: "host-01"}
	src := &event.Source{Path: "/var/log/app/service.log", Input: &event.Input{Type: "log"}}
	e := &event.Event{Source: src, Line: bytes.Repeat([]byte("abcdefghij"), 20), Time: time.Now(), Offset: 123456}
	e.Doc = e.MakeDoc("host-01")
	e.Doc["fields"] = map[string]any{"team": "payments"}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.appendValue(buf[:0], e)
	}
}

// A line within max_message_bytes whose encoding is not (escapes, invalid
// UTF-8 made U+FFFD) is cut to fit and flagged truncated, not rejected.
func TestFitCutsLineThatGrowsWhenEncoded(t *testing.T) {
	k := kafkaCfg("json")
	k.MaxMessageBytes = 1000
	o, err := New(k, "h", testLog)
	if err != nil {
		t.Fatal(err)
	}
	src := &event.Source{Path: "/a.log", Input: &event.Input{Type: "log"}}
	for _, line := range []string{strings.Repeat(`"`, 900), strings.Repeat("\xff", 900), "é" + strings.Repeat("\x01", 600)} {
		e := &event.Event{Source: src, Line: []byte(line), Time: time.Now()}
		maxValue := k.MaxMessageBytes - recordOverhead
		v := o.fit(o.enc.appendValue(nil, e), 0, e, maxValue)
		var m struct {
			Message string `json:"message"`
			Log     struct {
				Flags []string `json:"flags"`
			} `json:"log"`
		}
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		if len(v) > maxValue || !e.Truncated || len(m.Log.Flags) == 0 || m.Log.Flags[0] != "truncated" || len(m.Message) == 0 {
			t.Fatalf("%d-byte value (max %d), truncated %v, flags %v, message of %d bytes", len(v), maxValue, e.Truncated, m.Log.Flags, len(m.Message))
		}
		if !utf8.Valid(e.Line) && utf8.Valid([]byte(line)) {
			t.Fatal("cut inside a character")
		}
	}
}

// Fields add_fields put beside an event (event.Extra) encode as the same
// JSON the event's document would, and where they would collide with the
// event's own fields the document is made instead.
func TestExtraEncodesLikeTheDocument(t *testing.T) {
	enc := encoder{hostName: "h"}
	plain := &event.Input{Type: "log"}
	withFields := &event.Input{Type: "log", Fields: map[string]any{"env": "prod"}, FieldsJSON: []byte(`{"env":"prod"}`)}
	underRoot := &event.Input{Type: "log", Fields: map[string]any{"env": "prod"}, FieldsJSON: []byte(`{"env":"prod"}`), FieldsUnderRoot: true}
	for _, tc := range []struct {
		name   string
		in     *event.Input
		target string
		fields map[string]any
		rides  bool
	}{
		{"top level", plain, "", map[string]any{"team": "core", "a.b": 1}, true},
		{"under a target", plain, "labels", map[string]any{"x": "y"}, true},
		{"into the input's fields", withFields, "fields", map[string]any{"x": "y"}, false},
		{"beside the input's fields", withFields, "", map[string]any{"x": "y"}, true},
		{"over a root field", underRoot, "", map[string]any{"env": "dev"}, false},
		{"onto host", plain, "host", map[string]any{"id": "1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := event.NewExtra(tc.target, tc.fields)
			e := event.Event{Source: &event.Source{Path: "/a.log", Input: tc.in}, Line: []byte("x"), Time: time.Unix(1, 0), Offset: 7}
			if e.CanAdd(x) != tc.rides {
				t.Fatalf("CanAdd = %v, want %v", !tc.rides, tc.rides)
			}
			if !tc.rides {
				return
			}
			e.Extra = x
			fast := enc.appendValue(nil, &e)
			doc := e.MakeDoc("h")
			for k, v := range tc.fields {
				if tc.target != "" {
					k = tc.target + "." + k
				}
				if got, ok := event.Lookup(doc, k); !ok || got != v {
					t.Fatalf("document: %s = %v, want %v", k, got, v)
				}
			}
			slow := event.AppendJSON(nil, doc)
			var a, b any
			if err := json.Unmarshal(fast, &a); err != nil {
				t.Fatalf("%v: %s", err, fast)
			}
			if err := json.Unmarshal(slow, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("with Extra:\n%s\nas a document:\n%s", fast, slow)
			}
		})
	}
}
