package filebeat

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/internal/yamlpath"
)

// processorKeys are the Filebeat processors logship has, with the options
// carried over ([from, to]; to "" is the same name) and those it refuses
// with why.
var processorKeys = map[string]struct {
	keys    [][2]string
	refused map[string]string
}{
	"add_fields":  {keys: same("target", "fields")},
	"drop_fields": {keys: same("fields", "ignore_missing")},
	"rename":      {keys: same("fields", "ignore_missing", "fail_on_error")},
	"copy_fields": {keys: same("fields", "ignore_missing", "fail_on_error")},
	"add_tags":    {keys: same("tags", "target")},
	"drop_event":  {},
	"dissect": {keys: same("tokenizer", "field", "target_prefix"), refused: map[string]string{
		"ignore_failure": "a line that does not match is shipped with error.message",
		"overwrite_keys": "dissect writes under target_prefix", "trim_values": "not supported", "trim_chars": "not supported"}},
	"decode_json_fields": {keys: same("fields", "target", "max_depth", "process_array", "overwrite_keys", "add_error_key"), refused: map[string]string{
		"expand_keys": "logship keeps dotted keys as they are written", "document_id": "Elasticsearch-only (the document's _id)"}},
	"timestamp": {keys: same("field", "layouts", "timezone", "target_field"), refused: map[string]string{
		"test": "layouts are checked when the configuration loads", "ignore_missing": "a missing field is recorded in error.message",
		"ignore_failure": "a failure is recorded in error.message"}},
	"add_host_metadata": {keys: [][2]string{{"cache.ttl", "cache_ttl"}}, refused: map[string]string{
		"netinfo": "host.ip is always added", "geo": "not supported", "replace_fields": "not supported", "name": "not supported"}},
}

// processors translates a processors list; in is the logship input when
// the list is an input's (add_kubernetes_metadata becomes its setting).
func (t *translation) processors(path string, procs *yaml.Node, in *object) *yaml.Node {
	out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if procs.Kind != yaml.SequenceNode {
		t.note(procs.Line, path, "is not a list")
		procs.Content = nil
		return out
	}
	for i, p := range procs.Content {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if p.Kind != yaml.MappingNode || len(p.Content) != 2 {
			t.note(p.Line, pp, "a processor is a mapping with one key, its name")
			continue
		}
		name, opts := p.Content[0].Value, p.Content[1]
		line := p.Content[0].Line
		pp += "." + name
		if name == "add_kubernetes_metadata" {
			t.kubernetes(pp, opts, in, line)
			continue
		}
		spec, ok := processorKeys[name]
		if !ok {
			known := make([]string, 0, len(processorKeys))
			for k := range processorKeys {
				known = append(known, k)
			}
			slices.Sort(known)
			t.note(line, pp, "processor "+name+" is not supported (logship has "+strings.Join(known, ", ")+", and add_kubernetes_metadata on container inputs)")
			continue
		}
		o := newObject()
		if opts.Kind == yaml.MappingNode {
			moves(opts, o, spec.keys...)
			for k, why := range spec.refused {
				t.refuse(opts, pp, why, k)
			}
			if w, key := take(opts, "when"); w != nil {
				cond, ok := t.condition(pp+".when", w)
				if !ok {
					t.note(key.Line, pp, "left out: its condition cannot be carried over (see the notes on when)")
					continue
				}
				o.set("when", cond)
			}
			t.leftovers(pp, opts)
		}
		out.Content = append(out.Content, mapping(name, o.node))
	}
	procs.Content = nil
	return out
}

// kubernetes maps add_kubernetes_metadata to a container input's setting.
func (t *translation) kubernetes(path string, opts *yaml.Node, in *object, line int) {
	if in == nil || yamlpath.Value(in.node, "type") == nil || yamlpath.Value(in.node, "type").Value != "container" {
		t.note(line, path, "logship adds Kubernetes metadata on inputs of type container only (add_kubernetes_metadata: {enabled: true})")
		opts.Content = nil
		return
	}
	k := newObject()
	k.set("enabled", true)
	moves(opts, k, [2]string{"host", "node"}, [2]string{"kube_config", "kube_config"}, [2]string{"cleanup_timeout", "cleanup_timeout"})
	t.refuse(opts, path, "logship matches pods by the container log's path, always", "matchers", "default_matchers", "indexers", "default_indexers")
	t.refuse(opts, path, "logship adds pod labels and annotations (include_annotations)", "labels", "include_labels", "exclude_labels", "include_annotations")
	t.leftovers(path, opts)
	in.set("add_kubernetes_metadata", k)
}

// condition translates a Filebeat condition: equals, contains, regexp,
// has_fields, and, or, not, however their keys are dotted; the field names
// inside are written dotted.
func (t *translation) condition(path string, c *yaml.Node) (*yaml.Node, bool) {
	if c.Kind != yaml.MappingNode {
		t.note(c.Line, path, "is not a condition")
		return nil, false
	}
	out := newObject()
	ok := true
	fields := map[string]*object{}   // equals, contains, regexp: field -> value
	var hasFields []*yaml.Node       // has_fields
	lists := map[string]*yaml.Node{} // and, or
	var not []*yaml.Node             // not's mappings, merged
	var order []string
	seen := func(op string) {
		if !slices.Contains(order, op) {
			order = append(order, op)
		}
	}
	for i := 0; i+1 < len(c.Content); i += 2 {
		k, v := c.Content[i], c.Content[i+1]
		op, rest, dotted := strings.Cut(k.Value, ".")
		if dotted { // "equals.fields.env: prod" is equals: {fields.env: prod}
			v = mapping(rest, v)
		}
		switch op {
		case "equals", "contains", "regexp":
			if fields[op] == nil {
				fields[op] = newObject()
			}
			flatten("", v, fields[op])
		case "has_fields":
			hasFields = append(hasFields, v.Content...)
		case "and", "or":
			if lists[op] == nil {
				lists[op] = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			}
			for j, sub := range v.Content {
				n, good := t.condition(fmt.Sprintf("%s.%s[%d]", path, op, j), sub)
				ok = ok && good
				lists[op].Content = append(lists[op].Content, n)
			}
		case "not":
			not = append(not, v.Content...)
		default:
			t.note(k.Line, join(path, op), "condition "+op+" is not supported (logship has equals, contains, regexp, has_fields, and, or, not)")
			ok = false
			continue
		}
		seen(op)
	}
	for _, op := range order {
		switch op {
		case "equals", "contains", "regexp":
			out.set(op, fields[op])
		case "has_fields":
			out.set(op, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: hasFields})
		case "and", "or":
			out.set(op, lists[op])
		case "not":
			n, good := t.condition(path+".not", &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: not})
			ok = ok && good
			out.set("not", n)
		}
	}
	return out.node, ok
}

// flatten writes a nested mapping of field names as dotted keys.
func flatten(prefix string, v *yaml.Node, out *object) {
	if v.Kind != yaml.MappingNode {
		out.set(prefix, v)
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		flatten(join(prefix, v.Content[i].Value), v.Content[i+1], out)
	}
}
