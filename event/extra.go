package event

import "maps"

// Extra is fields a processor adds to events unchanged (add_fields), kept
// beside the event rather than in a document of its own: the JSON codec
// writes them after the event's fields, Field finds them, and MakeDoc puts
// them in the document once a processor needs one. Shared by every event
// it was added to; never changed.
type Extra struct {
	// Fields are the added fields as nested objects, by top-level key.
	Fields map[string]any
	// JSON is Fields as JSON object members, without the braces.
	JSON []byte
}

// NewExtra makes an Extra of fields given by dotted names under target
// ("" is the top level), as add_fields puts them.
func NewExtra(target string, fields map[string]any) *Extra {
	nested := map[string]any{}
	for k, v := range fields {
		if target != "" {
			k = target + "." + k
		}
		Put(nested, k, v)
	}
	j := AppendJSON(nil, nested)
	return &Extra{Fields: nested, JSON: j[1 : len(j)-1]}
}

// CanAdd reports whether x can ride on e as its Extra: e has no document and
// no Extra yet, and none of x's top-level keys is a field e writes itself
// (a key both had would need merging: that is the document's job).
func (e *Event) CanAdd(x *Extra) bool {
	if e.Doc != nil || e.Extra != nil || len(x.JSON) == 0 {
		return false
	}
	for k := range x.Fields {
		switch k {
		case "@timestamp", "message", "log", "input", "host":
			return false
		}
		if e.Meta != nil {
			if _, ok := e.Meta.Fields[k]; ok {
				return false
			}
		}
		if in := e.Source.Input; in != nil && len(in.Fields) > 0 {
			if !in.FieldsUnderRoot && k == "fields" {
				return false
			}
			if _, ok := in.Fields[k]; ok && in.FieldsUnderRoot {
				return false
			}
		}
	}
	return true
}

// putExtra puts e's Extra into doc, made by MakeDoc: CanAdd ruled out
// every key doc has already.
func (e *Event) putExtra(doc map[string]any) {
	if e.Extra != nil {
		maps.Copy(doc, e.Extra.Fields)
	}
}
