// Package filebeat translates a filebeat.yml into a logship configuration
// (`logship import filebeat FILE`). Every key of the Filebeat file is
// either carried over or listed, with its line and why, in a Note: the
// translation takes each key it knows out of the parsed file, and what is
// left at the end is what it could not carry over.
package filebeat

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/yamlpath"
)

// Note is one key that was not carried over.
type Note struct {
	Line int
	Key  string // its dotted path in the Filebeat file
	Why  string
}

func (n Note) String() string { return fmt.Sprintf("line %d: %s: %s", n.Line, n.Key, n.Why) }

// Result is a translation: the logship configuration and what it leaves
// out.
type Result struct {
	Config []byte
	Notes  []Note
}

// Import translates a filebeat.yml; name is the file's name in errors.
// The configuration it returns loads (config.Parse) unless the Filebeat
// file itself had values logship refuses; those come back as the error.
func Import(name string, data []byte) (Result, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return Result{}, fmt.Errorf("%s: not a mapping of keys to values", name)
	}
	t := &translation{root: doc.Content[0]}
	out := t.translate()
	t.leftovers("", t.root)
	sort.SliceStable(t.notes, func(i, j int) bool { return t.notes[i].Line < t.notes[j].Line })

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# logship configuration imported from %s by `logship import filebeat`.\n", name)
	if len(t.notes) == 0 {
		buf.WriteString("# Every key was carried over.\n")
	} else {
		fmt.Fprintf(&buf, "# Not carried over (%d):\n", len(t.notes))
		for _, n := range t.notes {
			fmt.Fprintf(&buf, "#   %s\n", n)
		}
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out.node); err != nil {
		return Result{}, err
	}
	enc.Close()
	res := Result{Config: buf.Bytes(), Notes: t.notes}
	// What it wrote must load. A ${VAR} not set here stands for a value
	// of the deployment's: a placeholder that fits a host:port.
	lookup := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		return "placeholder:9092", true
	}
	if _, err := config.Parse(name+" (imported)", res.Config, lookup); err != nil {
		return res, err
	}
	return res, nil
}

type translation struct {
	root  *yaml.Node
	notes []Note
}

func (t *translation) note(line int, key, why string) {
	t.notes = append(t.notes, Note{Line: line, Key: key, Why: why})
}

// take removes path from node and returns its value (nil when absent);
// key is set to its key node for the line.
func take(node *yaml.Node, path string) (val, key *yaml.Node) {
	key, val = yamlpath.Take(node, path)
	return val, key
}

// moves copies keys from a Filebeat mapping into a logship one: each
// [from, to] pair, to "" meaning the same name.
func moves(from *yaml.Node, to *object, pairs ...[2]string) {
	for _, p := range pairs {
		dst := p[1]
		if dst == "" {
			dst = p[0]
		}
		if v, _ := take(from, p[0]); v != nil {
			to.put(dst, v)
		}
	}
}

func same(keys ...string) [][2]string {
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{k, ""}
	}
	return out
}

// refuse takes keys out and notes why each is not carried over.
func (t *translation) refuse(node *yaml.Node, prefix, why string, keys ...string) {
	for _, k := range keys {
		if v, key := take(node, k); v != nil {
			t.note(key.Line, join(prefix, k), why)
		}
	}
}

// leftovers notes every key still in node: nothing took it.
func (t *translation) leftovers(prefix string, node *yaml.Node) {
	if node == nil || node.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		p := join(prefix, k.Value)
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			t.leftovers(p, v)
			continue
		}
		t.note(k.Line, p, whyNot(p))
	}
}

// whyNot says why a key has no logship equivalent.
func whyNot(key string) string {
	head, _, _ := strings.Cut(key, ".")
	switch head {
	case "setup", "cloud", "monitoring", "xpack":
		return "Elastic Stack setting: logship ships to Kafka only"
	case "path":
		return "logship's paths are registry.path and output.kafka.dead_letter.path"
	case "logging":
		return "logship logs to standard error (logging.level, logging.format, logging.metrics.period)"
	case "queue":
		return "logship's queue is queue.max_events, max_bytes, batch_events and flush_interval"
	case "max_procs":
		return "set GOMAXPROCS in the environment"
	case "filebeat":
		return "no logship equivalent"
	}
	if strings.HasPrefix(key, "output.") {
		return "no logship equivalent for this output setting"
	}
	return "no logship equivalent"
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// object builds a YAML mapping in the order its keys are set.
type object struct{ node *yaml.Node }

func newObject() *object { return &object{node: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

// set puts key: v (a *yaml.Node, an *object, or a Go value to encode).
func (o *object) set(key string, v any) {
	var n *yaml.Node
	switch x := v.(type) {
	case *yaml.Node:
		n = clean(x)
	case *object:
		n = x.node
	default:
		n = new(yaml.Node)
		if err := n.Encode(v); err != nil {
			panic(err) // only the translation's own values come here
		}
	}
	yamlpath.Remove(o.node, key)
	o.node.Content = append(o.node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
}

// put is set with a dotted key written nested ("retry.backoff" is
// retry: {backoff: …}).
func (o *object) put(path string, v any) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		o.set(path, v)
		return
	}
	sub := &object{node: yamlpath.Value(o.node, head)}
	if sub.node == nil || sub.node.Kind != yaml.MappingNode {
		sub = newObject()
		o.set(head, sub)
	}
	sub.put(rest, v)
}

// first moves the keys named, those set, to the front in that order.
func (o *object) first(keys ...string) {
	var front, rest []*yaml.Node
	for _, k := range keys {
		if i := slices.IndexFunc(pairs(o.node), func(n *yaml.Node) bool { return n.Value == k }); i >= 0 {
			front = append(front, o.node.Content[2*i], o.node.Content[2*i+1])
		}
	}
	for i := 0; i+1 < len(o.node.Content); i += 2 {
		if !slices.Contains(keys, o.node.Content[i].Value) {
			rest = append(rest, o.node.Content[i], o.node.Content[i+1])
		}
	}
	o.node.Content = append(front, rest...)
}

// pairs are a mapping's keys.
func pairs(n *yaml.Node) []*yaml.Node {
	var keys []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i])
	}
	return keys
}

func (o *object) empty() bool { return len(o.node.Content) == 0 }

// clean is a copy of n without its comments and positions, which would
// otherwise be printed where they no longer belong.
func clean(n *yaml.Node) *yaml.Node {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Line, c.Column = 0, 0
	c.Style &^= yaml.FlowStyle
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return clean(n.Alias)
	}
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = clean(x)
	}
	return &c
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func isTrue(n *yaml.Node) bool {
	b, err := strconv.ParseBool(n.Value)
	return n.Kind == yaml.ScalarNode && err == nil && b
}

// translate builds the logship configuration, taking what it uses out of
// t.root.
func (t *translation) translate() *object {
	out := newObject()
	inputs, key := take(t.root, "filebeat.inputs")
	var list []*yaml.Node
	if inputs != nil && inputs.Kind == yaml.SequenceNode {
		for i, in := range inputs.Content {
			if o := t.input(fmt.Sprintf("filebeat.inputs[%d]", i), in); o != nil {
				list = append(list, o.node)
			}
		}
	} else if inputs != nil {
		t.note(key.Line, "filebeat.inputs", "is not a list of inputs")
	}
	out.set("inputs", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: list})
	t.refuse(t.root, "", "modules are not supported: configure an input for each module's log files (and dissect or ndjson for its parsing)",
		"filebeat.modules", "filebeat.config.modules")
	t.refuse(t.root, "", "external input files are not read: put their inputs under inputs", "filebeat.config.inputs")
	t.refuse(t.root, "", "autodiscover is not supported: an input of type container reads every container's log, with add_kubernetes_metadata", "filebeat.autodiscover")
	if v, k := take(t.root, "filebeat.registry.path"); v != nil {
		t.note(k.Line, "filebeat.registry.path", "logship keeps its own registry file (registry.path below); Filebeat's is not read, so files are read again from start_position")
	}
	reg := newObject()
	reg.set("path", "/var/lib/logship/registry.json")
	moves(t.root, reg, [2]string{"filebeat.registry.flush", "flush_interval"})
	out.set("registry", reg)
	if v, _ := take(t.root, "filebeat.shutdown_timeout"); v != nil {
		out.set("shutdown_timeout", v)
	}

	q := newObject()
	moves(t.root, q, [2]string{"queue.mem.events", "max_events"}, [2]string{"queue.mem.flush.min_events", "batch_events"}, [2]string{"queue.mem.flush.timeout", "flush_interval"})
	if !q.empty() {
		out.set("queue", q)
	}
	out.set("output", t.output())

	lg := newObject()
	moves(t.root, lg, [2]string{"logging.level", "level"}, [2]string{"logging.metrics.period", "metrics.period"})
	if v, _ := take(t.root, "logging.json"); v != nil && isTrue(v) {
		lg.set("format", "json")
	}
	t.refuse(t.root, "", "logship logs to standard error: journald or the container runtime keeps it", "logging.to_files", "logging.files", "logging.to_stderr", "logging.to_syslog", "logging.to_eventlog")
	if !lg.empty() {
		out.set("logging", lg)
	}
	h := newObject()
	if v, _ := take(t.root, "http.enabled"); v != nil {
		h.set("enabled", v)
	}
	host, _ := take(t.root, "http.host")
	port, _ := take(t.root, "http.port")
	if host != nil || port != nil {
		hs, ps := "localhost", "5066"
		if host != nil {
			hs = host.Value
		}
		if port != nil {
			ps = port.Value
		}
		h.set("listen", hs+":"+ps)
	}
	if !h.empty() {
		out.set("http", h)
	}
	moves(t.root, out, same("name", "fields", "fields_under_root", "tags")...)
	if procs, _ := take(t.root, "processors"); procs != nil {
		if p := t.processors("processors", procs, nil); len(p.Content) > 0 {
			out.set("processors", p)
		}
	}
	return out
}

// Keys every input type shares, with logship's names.
var commonInputKeys = same("id", "enabled", "paths", "exclude_files", "include_lines", "exclude_lines", "encoding",
	"fields", "fields_under_root", "tags", "ignore_older", "clean_inactive", "clean_removed", "harvester_limit", "symlinks")

// Keys of the log input (and of the container input, which is built on
// it) with logship's names.
var logInputKeys = same("scan_frequency", "close_inactive", "close_removed", "close_renamed", "close_eof", "max_bytes")

func (t *translation) input(path string, in *yaml.Node) *object {
	if in.Kind != yaml.MappingNode {
		t.note(in.Line, path, "is not a mapping")
		return nil
	}
	typ := "log"
	if v, _ := take(in, "type"); v != nil {
		typ = v.Value
	}
	out := newObject()
	switch typ {
	case "log", "container":
		if typ == "container" {
			out.set("type", "container")
			moves(in, out, same("stream", "format")...)
		}
		moves(in, out, logInputKeys...)
		if v, _ := take(in, "tail_files"); v != nil && isTrue(v) {
			out.set("start_position", "end")
		}
		if ml, _ := take(in, "multiline"); ml != nil {
			out.set("multiline", t.multiline(path+".multiline", ml))
		}
		if js, _ := take(in, "json"); js != nil {
			nd := t.ndjsonFromLogJSON(path+".json", js)
			t.leftovers(path+".json", js)
			out.set("parsers", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{mapping("ndjson", nd.node)}})
		}
	case "filestream":
		out.set("type", "filestream") // input.type in events stays what Filebeat sent
		for _, k := range config.FilestreamKeys() {
			v, key := take(in, k.From)
			switch {
			case v == nil:
			case k.Why != "":
				t.note(key.Line, join(path, k.From), k.Why)
			default:
				out.set(k.To, v)
			}
		}
		if ps, _ := take(in, "parsers"); ps != nil {
			t.filestreamParsers(path+".parsers", ps, out)
		}
	default:
		t.note(in.Line, path, "input type "+typ+" is not supported: logship reads files (log, filestream, container)")
		in.Content = nil
		return nil
	}
	moves(in, out, commonInputKeys...)
	t.refuse(in, path, "logship reads with its own buffers and is woken by writes (fsnotify)", "harvester_buffer_size", "backoff", "max_backoff", "backoff_factor")
	t.refuse(in, path, "close a file when it goes quiet with close_inactive", "close_timeout")
	t.refuse(in, path, "Elasticsearch-only (ingest pipeline, index)", "pipeline", "index")
	t.refuse(in, path, "logship always expands ** in paths", "recursive_glob")
	if procs, _ := take(in, "processors"); procs != nil {
		if p := t.processors(path+".processors", procs, out); len(p.Content) > 0 {
			out.set("processors", p)
		}
	}
	t.leftovers(path, in)
	in.Content = nil
	out.first("id", "type", "enabled", "paths", "exclude_files", "stream", "format")
	return out
}

func (t *translation) multiline(path string, ml *yaml.Node) *object {
	out := newObject()
	moves(ml, out, same("type", "pattern", "negate", "match", "max_lines", "timeout", "flush_pattern", "count_lines")...)
	t.refuse(ml, path, "logship joins lines with \\n, always", "skip_newline")
	t.leftovers(path, ml)
	ml.Content = nil
	return out
}

// ndjsonFromLogJSON maps the log input's json.* keys.
func (t *translation) ndjsonFromLogJSON(path string, js *yaml.Node) *object {
	out := newObject()
	target := "json"
	if v, _ := take(js, "keys_under_root"); v != nil && isTrue(v) {
		target = ""
	}
	out.set("target", target)
	moves(js, out, same("message_key", "overwrite_keys")...)
	if v, _ := take(js, "add_error_key"); v != nil {
		out.set("add_error_key", v)
	} else {
		out.set("add_error_key", false) // Filebeat's default; logship's is true
	}
	t.refuse(js, path, "logship keeps dotted keys as they are written", "expand_keys")
	t.refuse(js, path, "Elasticsearch-only (the document's _id)", "document_id")
	t.refuse(js, path, "a line that is not JSON is shipped as it is, with error.message when add_error_key is set", "ignore_decoding_error")
	return out
}

func (t *translation) filestreamParsers(path string, ps *yaml.Node, out *object) {
	if ps.Kind != yaml.SequenceNode {
		t.note(ps.Line, path, "is not a list")
		return
	}
	var parsers []*yaml.Node
	for i, p := range ps.Content {
		pp := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case yamlpath.Value(p, "ndjson") != nil:
			js, _ := take(p, "ndjson")
			o := newObject()
			moves(js, o, same("target", "message_key", "overwrite_keys", "add_error_key")...)
			if yamlpath.Value(o.node, "add_error_key") == nil {
				o.set("add_error_key", false) // filestream's default; logship's is true
			}
			t.refuse(js, pp+".ndjson", "logship keeps dotted keys as they are written", "expand_keys")
			t.refuse(js, pp+".ndjson", "Elasticsearch-only (the document's _id)", "document_id")
			t.refuse(js, pp+".ndjson", "a line that is not JSON is shipped as it is, with error.message when add_error_key is set", "ignore_decoding_error")
			t.leftovers(pp+".ndjson", js)
			parsers = append(parsers, mapping("ndjson", o.node))
		case yamlpath.Value(p, "multiline") != nil:
			ml, _ := take(p, "multiline")
			parsers = append(parsers, mapping("multiline", t.multiline(pp+".multiline", ml).node))
		case yamlpath.Value(p, "container") != nil:
			c, _ := take(p, "container")
			out.set("type", "container")
			moves(c, out, same("stream", "format")...)
			t.leftovers(pp+".container", c)
		default:
			t.leftovers(pp, p)
		}
		p.Content = nil
	}
	ps.Content = nil
	if len(parsers) > 0 {
		out.set("parsers", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: parsers})
	}
}

func mapping(key string, v *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar(key), v}}
}

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

// output translates output.kafka; other outputs are notes.
func (t *translation) output() *object {
	out := newObject()
	k := newObject()
	kafka, key := take(t.root, "output.kafka")
	if kafka == nil {
		line := 0
		if o := yamlpath.Key(t.root, "output"); o != nil {
			line = o.Line
		}
		t.note(line, "output", "logship ships to Kafka only: output.kafka.hosts is set to ${KAFKA_BROKER}; set it")
		k.set("hosts", []string{"${KAFKA_BROKER}"})
		out.set("kafka", k)
		return out
	}
	if v, _ := take(kafka, "enabled"); v != nil && !isTrue(v) {
		t.note(key.Line, "output.kafka.enabled", "false in Filebeat; logship's one output is Kafka, carried over enabled")
	}
	moves(kafka, k, same("hosts", "topic", "key", "client_id", "version", "required_acks", "compression", "compression_level",
		"max_message_bytes", "bulk_max_size", "bulk_flush_frequency", "timeout", "broker_timeout", "keep_alive", "headers")...)
	moves(kafka, k, [2]string{"backoff.init", "retry.backoff"}, [2]string{"backoff.max", "retry.max_backoff"},
		[2]string{"metadata.refresh_frequency", "metadata.refresh_frequency"}, [2]string{"metadata.retry.max", "metadata.retry.max"},
		[2]string{"metadata.retry.backoff", "metadata.retry.backoff"})
	if yamlpath.Value(k.node, "hosts") == nil {
		k.set("hosts", []string{"${KAFKA_BROKER}"})
		t.note(key.Line, "output.kafka.hosts", "not set in Filebeat; set to ${KAFKA_BROKER}")
	}
	if topics, _ := take(kafka, "topics"); topics != nil {
		t.topics("output.kafka.topics", topics, k)
	}
	t.partition(kafka, k)
	t.codec(kafka, k)
	t.security(kafka, k)
	t.refuse(kafka, "output.kafka", "logship retries until delivered: a line is never dropped after retries", "max_retries")
	t.refuse(kafka, "output.kafka", "sarama's defaults are kept", "channel_buffer_size", "worker", "workers", "metadata.full")
	t.leftovers("output.kafka", kafka)
	k.first("hosts", "topic", "topics", "key", "partition", "codec")
	out.set("kafka", k)
	for _, other := range []string{"elasticsearch", "logstash", "redis", "file", "console", "discard"} {
		if v, key := take(t.root, "output."+other); v != nil {
			t.note(key.Line, "output."+other, "logship ships to Kafka only")
		}
	}
	return out
}

// topics translates output.kafka.topics: rules of a topic and a
// condition, the first that holds naming the event's topic.
func (t *translation) topics(path string, topics *yaml.Node, k *object) {
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i, r := range topics.Content {
		rp := fmt.Sprintf("%s[%d]", path, i)
		o := newObject()
		moves(r, o, same("topic")...)
		if w, key := take(r, "when"); w != nil {
			cond, ok := t.condition(rp+".when", w)
			if !ok {
				t.note(key.Line, rp, "left out: its condition cannot be carried over (see the notes on when)")
				r.Content = nil
				continue
			}
			o.set("when", cond)
		}
		t.refuse(r, rp, "write one rule per value, with an equals condition", "mappings")
		t.refuse(r, rp, "a rule without when, last, is the default", "default")
		t.leftovers(rp, r)
		list.Content = append(list.Content, o.node)
	}
	topics.Content = nil
	if len(list.Content) > 0 {
		k.set("topics", list)
	}
}

func (t *translation) partition(kafka *yaml.Node, k *object) {
	p, _ := take(kafka, "partition")
	if p == nil || p.Kind != yaml.MappingNode {
		return
	}
	part := newObject()
	for i := 0; i+1 < len(p.Content); i += 2 {
		name, opts := p.Content[i].Value, p.Content[i+1]
		path := "output.kafka.partition." + name
		switch name {
		case "round_robin", "random":
			part.set(name, map[string]any{})
			t.refuse(opts, path, "records of one batch go to one partition, chosen anew for each batch", "group_events")
			t.refuse(opts, path, "a partition is chosen among those with a leader", "reachable_only")
		case "hash":
			part.set("hash", map[string]any{})
			if fields, key := take(opts, "hash"); fields != nil && len(fields.Content) > 0 {
				if len(fields.Content) == 1 && yamlpath.Value(k.node, "key") == nil {
					k.set("key", "%{["+fields.Content[0].Value+"]}")
				} else {
					t.note(key.Line, path+".hash", "logship hashes the record key: set key to a format of the fields")
				}
			}
			t.refuse(opts, path, "a partition is chosen among those with a leader", "reachable_only")
			t.refuse(opts, path, "not supported", "random")
		default:
			t.note(p.Content[i].Line, path, "partitioner "+name+" is not supported (hash, round_robin, random)")
			opts.Content = nil
			continue
		}
		t.leftovers(path, opts)
	}
	p.Content = nil
	if !part.empty() {
		k.set("partition", part)
	}
}

func (t *translation) codec(kafka *yaml.Node, k *object) {
	if v, key := take(kafka, "codec.format.string"); v != nil {
		if strings.TrimSpace(v.Value) == "%{[message]}" {
			k.set("codec", "raw")
		} else {
			t.note(key.Line, "output.kafka.codec.format.string", "logship's codecs are json and raw (the message alone, as %{[message]})")
		}
	}
	if c, _ := take(kafka, "codec.json"); c != nil {
		k.set("codec", "json")
		t.refuse(c, "output.kafka.codec.json", "logship writes compact JSON", "pretty", "escape_html")
		t.leftovers("output.kafka.codec.json", c)
	}
}

func (t *translation) security(kafka *yaml.Node, k *object) {
	sasl := newObject()
	moves(kafka, sasl, [2]string{"sasl.mechanism", "mechanism"}, [2]string{"username", "username"}, [2]string{"password", "password"})
	if !sasl.empty() {
		if yamlpath.Value(sasl.node, "mechanism") == nil {
			sasl.set("mechanism", "PLAIN") // Filebeat's default with a username
		}
		k.set("sasl", sasl)
	}
	tls := newObject()
	ssl, _ := take(kafka, "ssl")
	if ssl == nil {
		return
	}
	enabled := true
	if v, _ := take(ssl, "enabled"); v != nil && !isTrue(v) {
		enabled = false
	}
	tls.set("enabled", enabled)
	moves(ssl, tls, same("certificate_authorities", "certificate", "key", "verification_mode")...)
	t.refuse(ssl, "output.kafka.ssl", "Go's TLS defaults (TLS 1.2 and newer, its cipher suites) are used", "supported_protocols", "cipher_suites", "curve_types", "renegotiation")
	t.refuse(ssl, "output.kafka.ssl", "write the key unencrypted, readable by logship only", "key_passphrase", "key_passphrase_path")
	t.refuse(ssl, "output.kafka.ssl", "not supported", "ca_trusted_fingerprint", "ca_sha256")
	t.leftovers("output.kafka.ssl", ssl)
	k.set("tls", tls)
}
