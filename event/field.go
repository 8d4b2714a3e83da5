package event

import "strings"

// Field returns the value of a field of e by its dotted name, as in the
// JSON event: message, log.file.path, log.offset, input.type, the shared
// Meta fields, and fields.<name> (or <name> alone when the input's fields
// are at the root). Once the event has a Doc, any field of it.
func (e *Event) Field(name string) (any, bool) {
	if e.Doc != nil {
		return Lookup(e.Doc, name)
	}
	if e.Extra != nil {
		if v, ok := Lookup(e.Extra.Fields, name); ok {
			return v, true
		}
	}
	switch name {
	case "@timestamp":
		return e.Time, true
	case "message":
		return string(e.Line), true
	case "log.file.path":
		return e.Source.Path, true
	case "log.offset":
		return e.Offset, true
	case "input.type":
		if e.Source.Input != nil {
			return e.Source.Input.Type, true
		}
		return nil, false
	}
	if e.Meta != nil {
		if v, ok := Lookup(e.Meta.Fields, name); ok {
			return v, true
		}
	}
	in := e.Source.Input
	if in == nil || in.Fields == nil {
		return nil, false
	}
	rest, ok := strings.CutPrefix(name, "fields.")
	if !ok {
		if !in.FieldsUnderRoot {
			return nil, false
		}
		rest = name
	}
	var cur any = in.Fields
	for part := range strings.SplitSeq(rest, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
