package event

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Put and Delete never change a nested object in place: documents share
// them (the input's fields, a pod's labels).
func TestPutDeleteCopy(t *testing.T) {
	shared := map[string]any{"team": map[string]any{"name": "a", "size": 3}}
	doc := map[string]any{"fields": shared, "message": "m"}
	Put(doc, "fields.team.lead", "ada")
	if !Delete(doc, "fields.team.size") || Delete(doc, "fields.team.nope") {
		t.Fatal("Delete reported wrongly")
	}
	if !reflect.DeepEqual(shared, map[string]any{"team": map[string]any{"name": "a", "size": 3}}) {
		t.Fatalf("the shared object changed: %v", shared)
	}
	want := map[string]any{"fields": map[string]any{"team": map[string]any{"name": "a", "lead": "ada"}}, "message": "m"}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("doc = %v", doc)
	}
	Put(doc, "message.x", 1) // a non-object on the way is replaced
	if v, ok := Lookup(doc, "message.x"); !ok || v != 1 {
		t.Fatalf("message.x = %v", v)
	}
	if v, ok := Lookup(map[string]any{"a.b": 1}, "a.b"); !ok || v != 1 {
		t.Fatal("a key with a dot not found")
	}
}

func TestMakeDocShares(t *testing.T) {
	in := &Input{Type: "log", Fields: map[string]any{"team": "a"}}
	src := &Source{Path: "/x.log", Input: in}
	e1 := &Event{Source: src, Line: []byte("one"), Offset: 0, Truncated: true}
	e2 := &Event{Source: src, Line: []byte("two"), Offset: 4}
	d1, d2 := e1.MakeDoc("h"), e2.MakeDoc("h")
	Put(d1, "fields.team", "b")
	Put(d1, "host.name", "other")
	if d2["fields"].(map[string]any)["team"] != "a" || d2["host"].(map[string]any)["name"] != "h" || in.Fields["team"] != "a" {
		t.Fatal("a change to one document showed in another")
	}
	var m map[string]any
	if err := json.Unmarshal(AppendJSON(nil, d1), &m); err != nil {
		t.Fatal(err)
	}
	if m["message"] != "one" || m["log"].(map[string]any)["flags"].([]any)[0] != "truncated" || m["input"].(map[string]any)["type"] != "log" {
		t.Fatalf("document %v", m)
	}
}
