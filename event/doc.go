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
// non-object on the way is replaced.
func Put(doc map[string]any, name string, v any) {
	for {
		head, rest, ok := strings.Cut(name, ".")
		if !ok {
			doc[name] = v
			return
		}
		sub, isMap := doc[head].(map[string]any)
		if !isMap {
			sub = map[string]any{}
			doc[head] = sub
		}
		doc, name = sub, rest
	}
}

// Delete removes the value at a dotted name and reports whether it was there.
func Delete(doc map[string]any, name string) bool {
	if _, ok := doc[name]; ok {
		delete(doc, name)
		return true
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		if sub, ok := doc[name[:i]].(map[string]any); ok && Delete(sub, name[i+1:]) {
			return true
		}
	}
	return false
}

// DeepCopy copies nested maps and slices, so the copy can be changed
// without touching shared configuration.
func DeepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return DeepCopy(t)
	case []any:
		s := make([]any, len(t))
		for i := range t {
			s[i] = deepCopyValue(t[i])
		}
		return s
	}
	return v
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
// the shared Meta. hostName is host.name.
func (e *Event) MakeDoc(hostName string) map[string]any {
	if e.Doc != nil {
		return e.Doc
	}
	log := map[string]any{"offset": e.Offset, "file": map[string]any{"path": e.Source.Path}}
	if flags := e.FlagNames(nil); len(flags) > 0 {
		fl := make([]any, len(flags))
		for i, f := range flags {
			fl[i] = f
		}
		log["flags"] = fl
	}
	typ := "log"
	in := e.Source.Input
	if in != nil && in.Type != "" {
		typ = in.Type
	}
	doc := map[string]any{
		"@timestamp": e.Time,
		"message":    string(e.Line),
		"log":        log,
		"input":      map[string]any{"type": typ},
		"host":       map[string]any{"name": hostName},
	}
	if e.Meta != nil {
		maps.Copy(doc, DeepCopy(e.Meta.Fields))
	}
	if in != nil && len(in.Fields) > 0 {
		if in.FieldsUnderRoot {
			maps.Copy(doc, DeepCopy(in.Fields))
		} else {
			doc["fields"] = DeepCopy(in.Fields)
		}
	}
	return doc
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
