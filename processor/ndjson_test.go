package processor

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/logship/logship/event"
)

func TestNDJSON(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, line string
		want            map[string]any // fields that must have these values
		absent          []string
	}{
		{"top level", `parsers: [{ndjson: {}}]`, `{"level":"info","n":12345678901234567890,"nested":{"a":[1,"b"]}}`,
			map[string]any{"level": "info", "n": json.Number("12345678901234567890"), "nested.a": []any{json.Number("1"), "b"}, "log.offset": int64(0), "host.name": "h1"},
			[]string{"message"}},
		{"message key", `parsers: [{ndjson: {message_key: msg}}]`, `{"msg":"user logged in","user":"ada"}`,
			map[string]any{"message": "user logged in", "user": "ada"}, []string{"msg"}},
		{"message in the object", `parsers: [{ndjson: {}}]`, `{"message":"m","x":1}`, map[string]any{"message": "m"}, nil},
		{"target", `parsers: [{ndjson: {target: app}}]`, `{"msg":"hi","level":"warn"}`,
			map[string]any{"app.msg": "hi", "app.level": "warn", "message": `{"msg":"hi","level":"warn"}`}, nil},
		{"keeps logship's fields", `parsers: [{ndjson: {}}]`, `{"host":"evil","log":"x","msg":"m"}`,
			map[string]any{"host.name": "h1", "log.offset": int64(0), "msg": "m"}, nil},
		{"overwrite_keys", `parsers: [{ndjson: {overwrite_keys: true}}]`, `{"host":"other"}`, map[string]any{"host": "other"}, nil},
		{"not json", `parsers: [{ndjson: {}}]`, `plain text line`,
			map[string]any{"message": "plain text line", "error.type": "json"}, nil},
		{"not an object", `parsers: [{ndjson: {}}]`, `[1,2]`, map[string]any{"message": "[1,2]", "error.type": "json"}, nil},
		{"trailing data", `parsers: [{ndjson: {}}]`, `{"a":1} {"b":2}`, map[string]any{"message": `{"a":1} {"b":2}`, "error.message": "ndjson: data after the JSON object"}, nil},
		{"no error key", `parsers: [{ndjson: {add_error_key: false}}]`, `nope`, map[string]any{"message": "nope"}, []string{"error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := feed(t, mustNew(t, input(t, tc.cfg)), "/x.log", []string{tc.line})
			if len(events) != 1 || events[0].Doc == nil {
				t.Fatalf("events %+v", events)
			}
			e := &events[0]
			for k, want := range tc.want {
				if got, ok := e.Field(k); !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v (%v), want %#v", k, got, ok, want)
				}
			}
			for _, k := range tc.absent {
				if v, ok := e.Field(k); ok {
					t.Errorf("%s = %v, want absent", k, v)
				}
			}
			if !json.Valid(event.AppendJSON(nil, e.Doc)) {
				t.Errorf("document does not encode as JSON")
			}
		})
	}
}

// FuzzNDJSON: any line gives one event whose document encodes as valid
// JSON; never a panic.
func FuzzNDJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"msg":"x","message":{"y":[1,2.5e300,null,true]}}`, `not json`, `{"a":"\ud800"}`, `{}`, `null`, `{"a":1}x`} {
		f.Add(s)
	}
	p := mustNew(f, input(f, `parsers: [{ndjson: {message_key: msg}}]`))
	f.Fuzz(func(t *testing.T, line string) {
		events := feed(t, p, "/x.log", []string{line})
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		if b := event.AppendJSON(nil, events[0].Doc); !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
	})
}
