package condition

import (
	"testing"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

func TestConditions(t *testing.T) {
	src := &event.Source{Path: "/var/log/app/web.log", Input: &event.Input{Type: "log", Fields: map[string]any{
		"service": "web", "tier": map[string]any{"level": 1}, "canary": true,
	}}}
	e := &event.Event{Source: src, Line: []byte("ERROR payment timeout"), Offset: 42}
	for _, tc := range []struct {
		name string
		c    config.Condition
		want bool
	}{
		{"empty", config.Condition{}, true},
		{"equals", config.Condition{Equals: map[string]any{"fields.service": "web"}}, true},
		{"equals number", config.Condition{Equals: map[string]any{"fields.tier.level": 1}}, true},
		{"equals bool", config.Condition{Equals: map[string]any{"fields.canary": true}}, true},
		{"equals other", config.Condition{Equals: map[string]any{"fields.service": "api"}}, false},
		{"equals missing", config.Condition{Equals: map[string]any{"fields.nope": ""}}, false},
		{"contains", config.Condition{Contains: map[string]string{"message": "ERROR"}}, true},
		{"regexp", config.Condition{Regexp: map[string]string{"log.file.path": `/web\.log$`}}, true},
		{"has_fields", config.Condition{HasFields: []string{"fields.service", "message"}}, true},
		{"has_fields missing", config.Condition{HasFields: []string{"fields.region"}}, false},
		{"and", config.Condition{And: []config.Condition{
			{Contains: map[string]string{"message": "ERROR"}}, {Equals: map[string]any{"log.offset": 42}},
		}}, true},
		{"or", config.Condition{Or: []config.Condition{
			{Contains: map[string]string{"message": "WARN"}}, {Equals: map[string]any{"input.type": "log"}},
		}}, true},
		{"not", config.Condition{Not: &config.Condition{Contains: map[string]string{"message": "ERROR"}}}, false},
	} {
		c, err := New(tc.c, "when")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c(e); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := New(config.Condition{Or: []config.Condition{{Regexp: map[string]string{"message": "("}}}}, "topics[0].when"); err == nil {
		t.Fatal("bad regexp accepted")
	}
}
