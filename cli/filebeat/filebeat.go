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
	"sort"
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
