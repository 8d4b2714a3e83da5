package filebeat

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/yamlpath"
)

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
	t.refuseNDJSON(js, path)
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
			t.refuseNDJSON(js, pp+".ndjson")
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

// refuseNDJSON notes the ndjson (and json.*) keys logship has no
// equivalent for.
func (t *translation) refuseNDJSON(js *yaml.Node, path string) {
	t.refuse(js, path, "logship keeps dotted keys as they are written", "expand_keys")
	t.refuse(js, path, "Elasticsearch-only (the document's _id)", "document_id")
	t.refuse(js, path, "a line that is not JSON is shipped as it is, with error.message when add_error_key is set", "ignore_decoding_error")
}
