package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// filestreamKeys are the keys of Filebeat's filestream input that differ
// from logship's: each either becomes a logship key (to) or is refused
// (why). The other filestream keys (paths, id, encoding, fields, parsers,
// include_lines, ignore_older, clean_*, harvester_limit, …) are logship's
// own names already.
var filestreamKeys = []struct{ from, to, why string }{
	{from: "prospector.scanner.check_interval", to: "scan_frequency"},
	{from: "prospector.scanner.exclude_files", to: "exclude_files"},
	{from: "prospector.scanner.symlinks", to: "symlinks"},
	{from: "close.on_state_change.inactive", to: "close_inactive"},
	{from: "close.on_state_change.removed", to: "close_removed"},
	{from: "close.on_state_change.renamed", to: "close_renamed"},
	{from: "close.reader.on_eof", to: "close_eof"},
	{from: "message_max_bytes", to: "max_bytes"},
	{from: "prospector.scanner.include_files", why: "logship reads what paths match: narrow the globs, or use exclude_files"},
	{from: "prospector.scanner.recursive_glob", why: "logship always expands ** in paths"},
	{from: "prospector.scanner.fingerprint", why: "logship identifies a file by device and inode, and checks the hash of its first bytes for reused inodes and copies"},
	{from: "prospector.scanner.resend_on_touch", why: "a file is read again only when its content is new"},
	{from: "file_identity", why: "logship identifies a file by device and inode, and checks the hash of its first bytes for reused inodes and copies"},
	{from: "close.on_state_change.check_interval", why: "logship notices renames and removals as they happen (fsnotify) and at each scan"},
	{from: "close.reader.after_interval", why: "close a file when it goes quiet with close_inactive"},
	{from: "backoff", why: "logship is woken by writes (fsnotify), not by polling"},
	{from: "take_over", why: "logship does not read Filebeat's registry; start_position says where files it has never seen begin"},
	{from: "ignore_inactive", why: "use ignore_older"},
	{from: "rotation", why: "logship follows rename and copytruncate rotation by itself; name rotated files with rotated_files"},
	{from: "delete", why: "logship never deletes the files it reads"},
}

// filestream rewrites an input of type filestream into logship's keys,
// in place, before the keys are checked: each mapped key moves to its
// logship name (an error when both are set), each refused one is an error
// saying why, and a container parser points at type: container.
func filestream(file string, node *yaml.Node, path string) []error {
	var errs []error
	if v := mapValue(node, "type"); v == nil || v.Value != InputFilestream {
		// Filestream's names in another input: say what logship calls them.
		for _, k := range filestreamKeys {
			if k.to == "" {
				continue
			}
			if key, _ := takePath(node, k.from); key != nil {
				errs = append(errs, &Error{File: file, Line: key.Line, Path: join(path, k.from),
					Msg: "filestream's name for " + k.to + ": write " + k.to + ", or set type: filestream"})
			}
		}
		return errs
	}
	for _, k := range filestreamKeys {
		key, val := takePath(node, k.from)
		if key == nil {
			continue
		}
		p := join(path, k.from)
		switch {
		case k.why != "":
			errs = append(errs, &Error{File: file, Line: key.Line, Path: p, Msg: "filestream's " + k.from + " is not supported: " + k.why})
		case mapKey(node, k.to) != nil:
			errs = append(errs, &Error{File: file, Line: key.Line, Path: p,
				Msg: fmt.Sprintf("is %s, also set at line %d: keep one", k.to, mapKey(node, k.to).Line)})
		default:
			node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.to, Line: key.Line, Column: key.Column}, val)
		}
	}
	if parsers := mapValue(node, "parsers"); parsers != nil && parsers.Kind == yaml.SequenceNode {
		for i, p := range parsers.Content {
			if c := mapKey(p, "container"); c != nil {
				errs = append(errs, &Error{File: file, Line: c.Line, Path: fmt.Sprintf("%s.parsers[%d].container", path, i),
					Msg: "use an input of type: container (with format and stream) for container logs"})
				removeKey(p, "container")
			}
		}
	}
	return errs
}

// mapKey is the key node of key in mapping node, or nil.
func mapKey(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i]
		}
	}
	return nil
}

// mapValue is the value node of key in mapping node, or nil.
func mapValue(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}

func removeKey(node *yaml.Node, key string) {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			node.Content = append(node.Content[:i], node.Content[i+2:]...)
			return
		}
	}
}

// takePath removes the dotted path from node and returns its key and
// value nodes, however it is written: whole ("a.b.c: 1"), nested, or a mix
// ("a.b: {c: 1}"). Mappings left empty go too.
func takePath(node *yaml.Node, path string) (key, val *yaml.Node) {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if k.Value == path {
			node.Content = append(node.Content[:i], node.Content[i+2:]...)
			return k, v
		}
		if rest, ok := strings.CutPrefix(path, k.Value+"."); ok {
			if key, val = takePath(v, rest); key != nil {
				if len(v.Content) == 0 {
					node.Content = append(node.Content[:i], node.Content[i+2:]...)
				}
				return key, val
			}
		}
	}
	return nil, nil
}
