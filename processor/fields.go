package processor

import (
	"maps"
	"slices"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

// decodeJSONFields replaces fields holding JSON text by what they decode
// to, or puts that at a target.
type decodeJSONFields struct{ cfg config.DecodeJSON }

func (p *decodeJSONFields) run(e *event.Event, host string) bool {
	d := doc(e, host)
	for _, f := range p.cfg.Fields {
		v, ok := event.Lookup(d, f)
		if !ok {
			continue // as Filebeat: a field an event lacks is no error
		}
		s, ok := v.(string)
		if !ok {
			continue
		}
		decoded, err := decodeJSON([]byte(s), p.cfg.ProcessArray)
		if err != nil {
			if p.cfg.AddErrorKey {
				addError(d, "decode_json_fields: "+f+": "+err.Error())
			}
			continue
		}
		decoded = p.deeper(decoded, 1)
		switch {
		case p.cfg.Target == nil:
			event.Put(d, f, decoded)
		case *p.cfg.Target == "":
			p.merge(d, "", decoded)
		default:
			p.merge(d, *p.cfg.Target, decoded)
		}
	}
	return true
}

// deeper decodes JSON text found in v's string values, down to max_depth.
func (p *decodeJSONFields) deeper(v any, depth int) any {
	if depth >= p.cfg.MaxDepth {
		return v
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = p.deeper(p.text(x), depth+1)
		}
	case []any:
		for i, x := range t {
			t[i] = p.deeper(p.text(x), depth+1)
		}
	}
	return v
}

// text is x decoded when it is a string of JSON, else x.
func (p *decodeJSONFields) text(x any) any {
	if s, ok := x.(string); ok {
		if v, err := decodeJSON([]byte(s), p.cfg.ProcessArray); err == nil {
			return v
		}
	}
	return x
}

// merge puts an object's keys under target ("" is the top level); keys
// there already stay unless overwrite_keys. Anything else (an array) goes
// at the target itself.
func (p *decodeJSONFields) merge(d map[string]any, target string, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		if target == "" {
			addError(d, "decode_json_fields: an array cannot go at the top level (set target)")
			return
		}
		event.Put(d, target, v)
		return
	}
	for k, x := range obj {
		name := k
		if target != "" {
			name = target + "." + k
		}
		if _, exists := event.Lookup(d, name); exists && !p.cfg.OverwriteKeys {
			continue
		}
		event.Put(d, name, x)
	}
}

// addTags appends tags to a list, each once.
type addTags struct{ cfg config.AddTags }

func (p *addTags) run(e *event.Event, host string) bool {
	d := doc(e, host)
	var tags []any
	if old, ok := event.Lookup(d, p.cfg.Target); ok {
		switch t := old.(type) {
		case []any:
			tags = slices.Clone(t) // shared: never changed in place
		case []string:
			for _, s := range t {
				tags = append(tags, s)
			}
		default:
			tags = []any{old}
		}
	}
	for _, t := range p.cfg.Tags {
		if !slices.Contains(tags, any(t)) {
			tags = append(tags, t)
		}
	}
	event.Put(d, p.cfg.Target, tags)
	return true
}

// copyFields copies fields to names that do not exist yet. With
// fail_on_error, the first failure undoes the copies made and is recorded
// in error.message; without, failures are skipped.
type copyFields struct{ cfg config.CopyFields }

func (p *copyFields) run(e *event.Event, host string) bool {
	d := doc(e, host)
	var done []string
	for _, f := range p.cfg.Fields {
		v, ok := event.Lookup(d, f.From)
		var fail string
		switch _, exists := event.Lookup(d, f.To); {
		case !ok && p.cfg.IgnoreMissing:
			continue
		case !ok:
			fail = "no field " + f.From
		case exists:
			fail = f.To + " exists already"
		}
		if fail == "" {
			event.Put(d, f.To, deepCopy(v))
			done = append(done, f.To)
			continue
		}
		if p.cfg.FailOnError {
			for _, to := range slices.Backward(done) {
				event.Delete(d, to)
			}
			addError(d, "copy_fields: "+fail)
			return true
		}
	}
	return true
}

// deepCopy copies maps and slices, so that a change to the copy through
// event.Put never reaches the original (objects may be shared).
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := maps.Clone(t)
		for k, x := range m {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := slices.Clone(t)
		for i, x := range s {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}
