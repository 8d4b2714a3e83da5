package config

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/internal/yamlpath"
)

// filestreamKeys are the keys of Filebeat's filestream input that differ
// from logship's: each either becomes a logship key (to) or is refused
// (why). The other filestream keys (paths, id, encoding, fields, parsers,
// include_lines, ignore_older, clean_*, harvester_limit, …) are logship's
// own names already.
var filestreamKeys = []FilestreamKey{
	{From: "prospector.scanner.check_interval", To: "scan_frequency"},
	{From: "prospector.scanner.exclude_files", To: "exclude_files"},
	{From: "prospector.scanner.symlinks", To: "symlinks"},
	{From: "close.on_state_change.inactive", To: "close_inactive"},
	{From: "close.on_state_change.removed", To: "close_removed"},
	{From: "close.on_state_change.renamed", To: "close_renamed"},
	{From: "close.reader.on_eof", To: "close_eof"},
	{From: "message_max_bytes", To: "max_bytes"},
	{From: "prospector.scanner.include_files", Why: "logship reads what paths match: narrow the globs, or use exclude_files"},
	{From: "prospector.scanner.recursive_glob", Why: "logship always expands ** in paths"},
	{From: "prospector.scanner.fingerprint", Why: "logship identifies a file by device and inode, and checks the hash of its first bytes for reused inodes and copies"},
	{From: "prospector.scanner.resend_on_touch", Why: "a file is read again only when its content is new"},
	{From: "file_identity", Why: "logship identifies a file by device and inode, and checks the hash of its first bytes for reused inodes and copies"},
	{From: "close.on_state_change.check_interval", Why: "logship notices renames and removals as they happen (fsnotify) and at each scan"},
	{From: "close.reader.after_interval", Why: "close a file when it goes quiet with close_inactive"},
	{From: "backoff", Why: "logship is woken by writes (fsnotify), not by polling"},
	{From: "take_over", Why: "logship does not read Filebeat's registry; start_position says where files it has never seen begin"},
	{From: "ignore_inactive", Why: "use ignore_older"},
	{From: "rotation", Why: "logship follows rename and copytruncate rotation by itself; name rotated files with rotated_files"},
	{From: "delete", Why: "logship never deletes the files it reads"},
}

// FilestreamKey is one filestream key that logship names otherwise (To)
// or does not support (Why).
type FilestreamKey struct{ From, To, Why string }

// FilestreamKeys are filestream's keys that logship names otherwise or
// refuses; `logship import filebeat` maps them the same way.
func FilestreamKeys() []FilestreamKey { return slices.Clone(filestreamKeys) }

// filestream rewrites an input of type filestream into logship's keys,
// in place, before the keys are checked: each mapped key moves to its
// logship name (an error when both are set), each refused one is an error
// saying why, and a container parser points at type: container.
func filestream(file string, node *yaml.Node, path string) []error {
	var errs []error
	if v := yamlpath.Value(node, "type"); v == nil || v.Value != InputFilestream {
		// Filestream's names in another input: say what logship calls them.
		for _, k := range filestreamKeys {
			if k.To == "" {
				continue
			}
			if key, _ := yamlpath.Take(node, k.From); key != nil {
				errs = append(errs, &Error{File: file, Line: key.Line, Path: join(path, k.From),
					Msg: "filestream's name for " + k.To + ": write " + k.To + ", or set type: filestream"})
			}
		}
		return errs
	}
	for _, k := range filestreamKeys {
		key, val := yamlpath.Take(node, k.From)
		if key == nil {
			continue
		}
		p := join(path, k.From)
		switch {
		case k.Why != "":
			errs = append(errs, &Error{File: file, Line: key.Line, Path: p, Msg: "filestream's " + k.From + " is not supported: " + k.Why})
		case yamlpath.Key(node, k.To) != nil:
			errs = append(errs, &Error{File: file, Line: key.Line, Path: p,
				Msg: fmt.Sprintf("is %s, also set at line %d: keep one", k.To, yamlpath.Key(node, k.To).Line)})
		default:
			node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.To, Line: key.Line, Column: key.Column}, val)
		}
	}
	if parsers := yamlpath.Value(node, "parsers"); parsers != nil && parsers.Kind == yaml.SequenceNode {
		for i, p := range parsers.Content {
			if c := yamlpath.Key(p, "container"); c != nil {
				errs = append(errs, &Error{File: file, Line: c.Line, Path: fmt.Sprintf("%s.parsers[%d].container", path, i),
					Msg: "use an input of type: container (with format and stream) for container logs"})
				yamlpath.Remove(p, "container")
			}
		}
	}
	return errs
}
