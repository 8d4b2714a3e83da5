package event

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Doc functions work on an event as nested maps of fields, addressed by
// dotted names ("kubernetes.pod.name"). A name is looked up as a path of
// nested objects; a key that itself holds dots is found too.

// Lookup returns the value at a dotted name in doc.
func Lookup(doc map[string]any, name string) (any, bool) {
	if v, ok := doc[name]; ok {
		return v, true
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		sub, ok := doc[name[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := Lookup(sub, name[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}

// Put sets the value at a dotted name, creating the objects on the way; a
// non-object on the way is replaced. Nested objects are copied before they
// are changed, never changed in place: a document shares them with other
// events (the input's fields, a pod's labels), see MakeDoc.
func Put(doc map[string]any, name string, v any) {
	head, rest, ok := strings.Cut(name, ".")
	if !ok {
		doc[name] = v
		return
	}
	sub, _ := doc[head].(map[string]any)
	cp := make(map[string]any, len(sub)+1)
	maps.Copy(cp, sub)
	Put(cp, rest, v)
	doc[head] = cp
}

// Delete removes the value at a dotted name and reports whether it was
// there. Like Put, it copies the nested objects it changes.
func Delete(doc map[string]any, name string) bool {
	if _, ok := doc[name]; ok {
		delete(doc, name)
		return true
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		sub, ok := doc[name[:i]].(map[string]any)
		if !ok {
			continue
		}
		if _, found := Lookup(sub, name[i+1:]); !found {
			continue
		}
		cp := maps.Clone(sub)
		Delete(cp, name[i+1:])
		doc[name[:i]] = cp
		return true
	}
	return false
}

// DocSize estimates the memory a document holds: keys, values and the
// maps' own overhead.
func DocSize(v any) int {
	switch t := v.(type) {
	case map[string]any:
		n := 48
		for k, v := range t {
			n += 32 + len(k) + DocSize(v)
		}
		return n
	case []any:
		n := 24
		for _, v := range t {
			n += 16 + DocSize(v)
		}
		return n
	case string:
		return 16 + len(t)
	case json.Number:
		return 16 + len(t)
	}
	return 16
}

// MakeDoc returns the event as a document with the fields the JSON codec
// writes: @timestamp, message, log, input, host, the input's fields and
// the shared Meta. hostName is host.name. Only the top level and log are
// the event's own; the nested objects that are the same for every event
// of the file (input, host, log.file, fields, Meta's) are shared, which
// Put and Delete allow by copying what they change.
func (e *Event) MakeDoc(hostName string) map[string]any {
	if e.Doc != nil {
		return e.Doc
	}
	parts := e.Source.docParts(hostName)
	log := map[string]any{"offset": e.Offset, "file": parts.file}
	if flags := e.FlagNames(nil); len(flags) > 0 {
		fl := make([]any, len(flags))
		for i, f := range flags {
			fl[i] = f
		}
		log["flags"] = fl
	}
	doc := make(map[string]any, 8)
	if e.Meta != nil {
		maps.Copy(doc, e.Meta.Fields)
	}
	doc["@timestamp"] = e.Time
	doc["message"] = string(e.Line)
	doc["log"] = log
	doc["input"] = parts.input
	doc["host"] = parts.host
	if in := e.Source.Input; in != nil && len(in.Fields) > 0 {
		if in.FieldsUnderRoot {
			maps.Copy(doc, in.Fields)
		} else {
			doc["fields"] = in.Fields
		}
	}
	e.putExtra(doc)
	return doc
}

// docParts are the nested objects every document of a source shares.
type docParts struct {
	hostName          string
	file, input, host map[string]any
}

func (s *Source) docParts(hostName string) *docParts {
	if p := s.parts.Load(); p != nil && p.hostName == hostName {
		return p
	}
	typ := "log"
	if s.Input != nil && s.Input.Type != "" {
		typ = s.Input.Type
	}
	p := &docParts{
		hostName: hostName,
		file:     map[string]any{"path": s.Path},
		input:    map[string]any{"type": typ},
		host:     map[string]any{"name": hostName},
	}
	s.parts.Store(p)
	return p
}

// TimeLayout is how @timestamp and other times are written.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// AppendJSON appends v as JSON: objects with their keys sorted, times in
// TimeLayout (UTC), strings with invalid UTF-8 replaced.
func AppendJSON(buf []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		return AppendString(buf, t)
	case []byte:
		return AppendString(buf, t)
	case bool:
		return strconv.AppendBool(buf, t)
	case int:
		return strconv.AppendInt(buf, int64(t), 10)
	case int64:
		return strconv.AppendInt(buf, t, 10)
	case uint64:
		return strconv.AppendUint(buf, t, 10)
	case float64:
		return appendFloat(buf, t)
	case json.Number:
		return append(buf, t...)
	case time.Time:
		buf = append(buf, '"')
		buf = t.UTC().AppendFormat(buf, TimeLayout)
		return append(buf, '"')
	case map[string]any:
		buf = append(buf, '{')
		// Members taken out once and sorted by key: no map lookups after.
		var kb [16]member
		ms := kb[:0]
		for k, v := range t {
			ms = append(ms, member{k, v})
		}
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.k, b.k) })
		for i := range ms {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendString(buf, ms[i].k)
			buf = append(buf, ':')
			buf = AppendJSON(buf, ms[i].v)
		}
		return append(buf, '}')
	case []any:
		buf = append(buf, '[')
		for i := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendJSON(buf, t[i])
		}
		return append(buf, ']')
	case []string:
		buf = append(buf, '[')
		for i := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendString(buf, t[i])
		}
		return append(buf, ']')
	}
	// Other types come only from configuration (fields: in YAML).
	b, err := json.Marshal(v)
	if err != nil {
		return AppendString(buf, err.Error())
	}
	return append(buf, b...)
}

type member struct {
	k string
	v any
}

func appendFloat(buf []byte, f float64) []byte {
	if f != f || f > 1e308 || f < -1e308 { // NaN and infinities are not JSON
		return append(buf, "null"...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}
