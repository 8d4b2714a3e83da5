package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	typeOfConfig   = reflect.TypeFor[Config]()
	typeOfDuration = reflect.TypeFor[Duration]()
	typeOfByteSize = reflect.TypeFor[ByteSize]()
)

// checkKeys reports every mapping key in node that the Go type t has no
// field for. yaml.v3's KnownFields only works on a Decoder, not on a Node,
// and the Node is needed for ${VAR} expansion and for line numbers, so the
// check is done here against the same yaml tags the decoder uses.
func checkKeys(file string, node *yaml.Node, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	var errs []error
	switch {
	case t == typeOfDuration || t == typeOfByteSize:
		// Parsed here rather than in UnmarshalYAML, whose errors yaml.v3
		// reports without a line.
		if node.Kind != yaml.ScalarNode {
			return nil
		}
		var err error
		if t == typeOfDuration {
			err = new(Duration).UnmarshalYAML(func(v any) error { *(v.(*string)) = node.Value; return nil })
		} else {
			_, err = ParseByteSize(node.Value)
		}
		if err != nil {
			// Reported here; a neutral value lets decoding go on to find
			// the file's other problems.
			node.Value, node.Tag = "0", ""
			return []error{&Error{File: file, Line: node.Line, Path: path, Msg: err.Error()}}
		}
	case t.Kind() == reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return nil // the decoder reports the type mismatch
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			p := join(path, k.Value)
			if !ok {
				errs = append(errs, &Error{File: file, Line: k.Line, Path: p, Msg: "unknown key"})
				continue
			}
			errs = append(errs, checkKeys(file, v, f.Type, p)...)
		}
	case t.Kind() == reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			return nil
		}
		for i, v := range node.Content {
			errs = append(errs, checkKeys(file, v, t.Elem(), path+"["+strconv.Itoa(i)+"]")...)
		}
	case t.Kind() == reflect.Map:
		if node.Kind != yaml.MappingNode || t.Elem().Kind() == reflect.Interface {
			return nil
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			errs = append(errs, checkKeys(file, node.Content[i+1], t.Elem(), join(path, node.Content[i].Value))...)
		}
	}
	return errs
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// expandNode replaces ${VAR} and ${VAR:default} in every scalar value below
// node. A plain (unquoted) scalar is re-typed after expansion, so
// "max_events: ${N}" decodes as a number.
func expandNode(file string, node *yaml.Node, path string, lookup func(string) (string, bool)) []error {
	var errs []error
	switch node.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(node.Value, "$") {
			return nil
		}
		v, err := expand(node.Value, lookup)
		if err != nil {
			return []error{&Error{File: file, Line: node.Line, Path: path, Msg: err.Error()}}
		}
		if v != node.Value && node.Style == 0 {
			node.Tag = ""
		}
		node.Value = v
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			errs = append(errs, expandNode(file, node.Content[i+1], join(path, node.Content[i].Value), lookup)...)
		}
	case yaml.SequenceNode:
		for i, v := range node.Content {
			errs = append(errs, expandNode(file, v, path+"["+strconv.Itoa(i)+"]", lookup)...)
		}
	}
	return errs
}

// expand resolves ${VAR} and ${VAR:default}; "$$" stands for a literal "$".
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":")
		if name == "" {
			return "", fmt.Errorf("empty variable name in ${%s}", ref)
		}
		if v, ok := lookup(name); ok {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			return "", fmt.Errorf("environment variable %s is not set and has no default (write ${%s:default})", name, name)
		}
		s = s[i+end+1:]
	}
}

// lineOf returns the line of the node at path ("inputs[0].paths") below
// root, or of its nearest ancestor that exists.
func lineOf(root *yaml.Node, path string) int {
	if root == nil {
		return 0
	}
	node, line := root, root.Line
	for part := range strings.SplitSeq(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		next := mapValue(node, key)
		if next == nil {
			return line
		}
		node, line = next, next.Line
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			rest = strings.TrimPrefix(after, "[")
			n, err := strconv.Atoi(idx)
			if err != nil || node.Kind != yaml.SequenceNode || n >= len(node.Content) {
				return line
			}
			node, line = node.Content[n], node.Content[n].Line
		}
	}
	return line
}

func mapValue(node *yaml.Node, key string) *yaml.Node {
	if node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}
