package processor

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/event"
)

func TestIncludeExclude(t *testing.T) {
	lines := []string{"DEBUG a", "INFO b", "ERROR c", "WARN d", "ERROR DEBUG e"}
	for _, tc := range []struct {
		cfg  string
		want []string
	}{
		{"include_lines: ['^ERROR', '^WARN']", []string{"ERROR c", "WARN d", "ERROR DEBUG e"}},
		{"exclude_lines: ['^DEBUG']", []string{"INFO b", "ERROR c", "WARN d", "ERROR DEBUG e"}},
		{"{include_lines: ['^ERROR'], exclude_lines: ['DEBUG']}", []string{"ERROR c"}},
		{"exclude_lines: ['(?i)debug|info']", []string{"ERROR c", "WARN d"}},
	} {
		events := feed(t, mustNew(t, input(t, tc.cfg)), "/x.log", lines)
		if got := messages(events); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.cfg, got, tc.want)
		}
		checkOffsets(t, events, lines)
	}
}

// Filters see the joined event and the decoded message.
func TestFiltersAfterParsers(t *testing.T) {
	in := input(t, `
multiline: {pattern: '^\s', match: after}
parsers: [{ndjson: {message_key: msg}}]
include_lines: ['^keep']`)
	lines := []string{`{"msg":"keep me"}`, `{"msg":"drop me"}`, "not json"}
	events := feed(t, mustNew(t, in), "/x.log", lines)
	if got := messages(events); len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	if m, _ := events[0].Field("message"); m != "keep me" {
		t.Fatalf("message %v", m)
	}
	checkOffsets(t, events, lines)
}

func TestProcessors(t *testing.T) {
	line := "2026-11-21T12:34:56Z WARN disk almost full"
	for _, tc := range []struct {
		name, cfg string
		want      map[string]any
		absent    []string
		dropped   bool
	}{
		{"add_fields", `processors: [{add_fields: {fields: {team: payments, tier: {n: 1}}}}]`, map[string]any{"fields.team": "payments", "fields.tier.n": 1}, nil, false},
		{"add_fields at the top", `processors: [{add_fields: {target: "", fields: {env: prod}}}]`, map[string]any{"env": "prod"}, nil, false},
		{"drop_fields", `processors: [{drop_fields: {fields: [log.offset, input]}}]`, map[string]any{"log.file.path": "/x.log"}, []string{"log.offset", "input"}, false},
		{"drop_fields missing", `processors: [{drop_fields: {fields: [nope]}}]`, map[string]any{"error.message": "drop_fields: no field nope"}, nil, false},
		{"rename", `processors: [{rename: {fields: [{from: message, to: event.original}]}}]`, map[string]any{"event.original": line}, []string{"message"}, false},
		{"rename onto a field", `processors: [{rename: {fields: [{from: message, to: host}]}}]`, map[string]any{"message": line, "error.message": "rename: host exists already"}, nil, false},
		{"drop_event", `processors: [{drop_event: {when: {contains: {message: WARN}}}}]`, nil, nil, true},
		{"drop_event not matching", `processors: [{drop_event: {when: {regexp: {message: '^DEBUG'}}}}]`, map[string]any{"message": line}, nil, false},
		{"dissect", `processors: [{dissect: {tokenizer: '%{ts} %{level} %{msg}'}}]`, map[string]any{"dissect.ts": "2026-11-21T12:34:56Z", "dissect.level": "WARN", "dissect.msg": "disk almost full"}, nil, false},
		{"dissect into the top", `processors: [{dissect: {tokenizer: '%{ts} %{level} %{}', target_prefix: ""}}]`, map[string]any{"level": "WARN"}, nil, false},
		{"dissect no match", `processors: [{dissect: {tokenizer: '[%{a}]'}}]`, map[string]any{"error.message": "dissect: message does not match the tokenizer"}, nil, false},
		{"timestamp", `processors: [{dissect: {tokenizer: '%{ts} %{}'}}, {timestamp: {field: dissect.ts, layouts: ['2006-01-02T15:04:05Z07:00']}}]`, map[string]any{"@timestamp": time.Date(2026, 11, 21, 12, 34, 56, 0, time.UTC)}, nil, false},
		{"timestamp unix ms", `processors: [{add_fields: {target: "", fields: {t: 1763728496123}}}, {timestamp: {field: t, layouts: [UNIX_MS], target_field: ts}}]`, map[string]any{"ts": time.UnixMilli(1763728496123).UTC()}, nil, false},
		{"timestamp zone", `processors: [{add_fields: {target: "", fields: {t: "2026-11-21 13:00:00"}}}, {timestamp: {field: t, layouts: ['2006-01-02 15:04:05'], timezone: Europe/Berlin}}]`, map[string]any{"@timestamp": time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}, nil, false},
		{"timestamp no match", `processors: [{timestamp: {field: message, layouts: ['2006-01-02']}}]`, map[string]any{"error.message": `timestamp: "` + line + `" matches none of the layouts`}, nil, false},
		{"when", `processors: [{add_fields: {fields: {x: 1}, when: {equals: {message: nope}}}}]`, nil, []string{"fields.x"}, false},
		{"add_host_metadata", `processors: [{add_host_metadata: {}}]`, map[string]any{"host.name": "h1", "host.os.type": "linux"}, nil, false},
		{"decode_json_fields in place", `processors: [{add_fields: {target: "", fields: {payload: '{"a":1,"b":{"c":"x"},"d":"{\"e\":2}"}'}}}, {decode_json_fields: {fields: [payload]}}]`,
			map[string]any{"payload.a": json.Number("1"), "payload.b.c": "x", "payload.d": `{"e":2}`}, nil, false},
		{"decode_json_fields max_depth 2", `processors: [{add_fields: {target: "", fields: {payload: '{"d":"{\"e\":2}"}'}}}, {decode_json_fields: {fields: [payload], max_depth: 2}}]`,
			map[string]any{"payload.d.e": json.Number("2")}, nil, false},
		{"decode_json_fields to the top", `processors: [{add_fields: {target: "", fields: {payload: '{"level":"warn","message":"replaced?"}'}}}, {decode_json_fields: {fields: [payload], target: ""}}]`,
			map[string]any{"level": "warn", "message": line}, nil, false},
		{"decode_json_fields overwrite_keys", `processors: [{add_fields: {target: "", fields: {payload: '{"message":"replaced"}'}}}, {decode_json_fields: {fields: [payload], target: "", overwrite_keys: true}}]`,
			map[string]any{"message": "replaced"}, nil, false},
		{"decode_json_fields under a target", `processors: [{add_fields: {target: "", fields: {payload: '[1,2]'}}}, {decode_json_fields: {fields: [payload], target: j, process_array: true}}]`,
			map[string]any{"j": []any{json.Number("1"), json.Number("2")}, "payload": "[1,2]"}, nil, false},
		{"decode_json_fields not JSON", `processors: [{decode_json_fields: {fields: [message], add_error_key: true}}]`,
			map[string]any{"message": line, "error.message": "decode_json_fields: message: not a JSON object"}, nil, false},
		{"add_tags", `processors: [{add_tags: {tags: [web, prod]}}, {add_tags: {tags: [prod, eu]}}]`, map[string]any{"tags": []any{"web", "prod", "eu"}}, nil, false},
		{"add_tags target", `processors: [{add_tags: {tags: [a], target: labels.kind}}]`, map[string]any{"labels.kind": []any{"a"}}, nil, false},
		{"copy_fields", `processors: [{copy_fields: {fields: [{from: message, to: event.original}, {from: log.file.path, to: path}]}}]`,
			map[string]any{"message": line, "event.original": line, "path": "/x.log"}, nil, false},
		{"copy_fields fails and undoes", `processors: [{copy_fields: {fields: [{from: message, to: event.original}, {from: message, to: host}]}}]`,
			map[string]any{"error.message": "copy_fields: host exists already"}, []string{"event.original"}, false},
		{"copy_fields without fail_on_error", `processors: [{copy_fields: {fields: [{from: nope, to: a}, {from: message, to: b}], fail_on_error: false}}]`,
			map[string]any{"b": line}, []string{"error.message", "a"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := feed(t, mustNew(t, input(t, tc.cfg)), "/x.log", []string{line, "second"})
			if tc.dropped {
				if events[0].Skip != true || len(messages(events)) != 1 {
					t.Fatalf("not dropped: %q", messages(events))
				}
				return
			}
			e := &events[0]
			for k, want := range tc.want {
				got, ok := e.Field(k)
				if tm, isTime := want.(time.Time); isTime {
					if gt, _ := got.(time.Time); !gt.Equal(tm) {
						t.Errorf("%s = %v, want %v", k, got, want)
					}
					continue
				}
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v (%v), want %#v", k, got, ok, want)
				}
			}
			for _, k := range tc.absent {
				if v, ok := e.Field(k); ok {
					t.Errorf("%s = %v, want absent", k, v)
				}
			}
			if _, ok := e.Field("host.hostname"); ok != strings.Contains(tc.name, "host") {
				t.Errorf("host.hostname present: %v", ok)
			}
		})
	}
}

// Processors change copies: one event's changes never show in another's.
func TestProcessorsDoNotShareFields(t *testing.T) {
	in := input(t, `
fields: {team: {name: a}}
processors: [{rename: {fields: [{from: fields.team.name, to: fields.team.old}]}}]`)
	in.Fields = map[string]any{"team": map[string]any{"name": "a"}}
	src := &event.Source{ID: "x", Path: "/x.log", Input: &event.Input{Fields: in.Fields}}
	c := mustNew(t, in).Chain(src)
	for i := range 2 {
		c.Line(&event.Raw{Text: []byte("l"), End: 2})
		ev := c.Events()
		if v, _ := ev[0].Field("fields.team.old"); v != "a" {
			t.Fatalf("event %d: fields.team.old = %v", i, v)
		}
	}
	if in.Fields["team"].(map[string]any)["name"] != "a" {
		t.Fatal("the input's fields were changed")
	}
}

// Interface addresses that cannot be read (systemd's
// RestrictAddressFamilies without AF_NETLINK) are logged once, not
// ignored, and the other host fields are still added.
func TestHostAddressErrorLogged(t *testing.T) {
	old := interfaceAddrs
	defer func() { interfaceAddrs = old }()
	interfaceAddrs = func() ([]net.Addr, error) {
		return nil, errors.New("route ip+net: netlinkrib: address family not supported by protocol")
	}
	var logged bytes.Buffer
	now := time.Unix(0, 0)
	h := newHostMetadata(time.Second, func() time.Time { return now }, slog.New(slog.NewTextHandler(&logged, nil)))
	for range 3 {
		if f := h.get(); f["hostname"] == nil || f["ip"] != nil {
			t.Fatalf("fields %v", f)
		}
		now = now.Add(2 * time.Second) // every get looks up again
	}
	if n := strings.Count(logged.String(), "interface addresses unreadable"); n != 1 || !strings.Contains(logged.String(), "AF_NETLINK") {
		t.Fatalf("logged %d times:\n%s", n, logged.String())
	}
}
