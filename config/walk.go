package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/logship/logship/internal/yamlpath"
	"gopkg.in/yaml.v3"
)

var (
	typeOfConfig   = reflect.TypeFor[Config]()
	typeOfInput    = reflect.TypeFor[Input]()
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
		errs = append(errs, undot(file, node, t, path)...)
		if t == typeOfInput {
			errs = append(errs, filestream(file, node, path)...)
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			p := join(path, k.Value)
			if !ok {
				errs = append(errs, &Error{File: file, Line: k.Line, Path: p, Msg: "unknown key" + didYouMean(t, k.Value)})
				continue
			}
			errs = append(errs, checkKeys(file, v, f.Type, p)...)
		}
	case node.Kind == yaml.ScalarNode && node.ShortTag() != "!!null":
		if msg := scalarMismatch(node, t); msg != "" {
			errs = append(errs, &Error{File: file, Line: node.Line, Path: path, Msg: `"` + node.Value + `" ` + msg})
			node.Value, node.Tag = "0", "" // decoding goes on to find the other problems
			if t.Kind() == reflect.Bool {
				node.Value = "false"
			} else if t.Kind() == reflect.Slice {
				node.Kind, node.Value, node.Tag = yaml.SequenceNode, "", "!!seq"
			}
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

// scalarMismatch says, in words, why a scalar cannot be a value of the Go
// type t ("" when it can, or when t decodes itself).
func scalarMismatch(node *yaml.Node, t reflect.Type) string {
	if pt := reflect.PointerTo(t); pt.Implements(typeOfUnmarshaler) || pt.Implements(typeOfFuncUnmarshaler) {
		return ""
	}
	tag := node.ShortTag()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if tag != "!!int" {
			return "is not a whole number"
		}
	case reflect.Float32, reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			return "is not a number"
		}
	case reflect.Bool:
		if tag != "!!bool" {
			return "is not true or false"
		}
	case reflect.Slice:
		return "is not a list (write [a, b], or one \"- item\" a line)"
	case reflect.Struct, reflect.Map:
		return "is not a mapping of keys to values"
	}
	return ""
}

var (
	typeOfUnmarshaler     = reflect.TypeFor[yaml.Unmarshaler]()
	typeOfFuncUnmarshaler = reflect.TypeFor[interface {
		UnmarshalYAML(func(any) error) error
	}]()
)

// undot rewrites the dotted keys of a mapping decoded into the struct t
// ("multiline.pattern: x", as Filebeat configurations write them) into the
// nested form they mean, merged with the nested form where both are
// written. The same key given both ways is an error naming both lines. A
// key whose first part is no field of t is left for checkKeys to report.
func undot(file string, node *yaml.Node, t reflect.Type, path string) []error {
	var errs []error
	out := make([]*yaml.Node, 0, len(node.Content))
	at := map[string]int{} // key -> its index in out
	// put adds key: v to the mapping being built, merging mappings given
	// under the same key (one of them dotted).
	put := func(key *yaml.Node, v *yaml.Node) {
		j, seen := at[key.Value]
		if !seen {
			at[key.Value] = len(out)
			out = append(out, key, v)
			return
		}
		prev := out[j+1]
		if prev.Kind != yaml.MappingNode || v.Kind != yaml.MappingNode {
			errs = append(errs, &Error{File: file, Line: key.Line, Path: join(path, key.Value),
				Msg: fmt.Sprintf("also set at line %d", out[j].Line)})
			return
		}
	merge:
		for i := 0; i+1 < len(v.Content); i += 2 {
			for n := 0; n+1 < len(prev.Content); n += 2 {
				if prev.Content[n].Value == v.Content[i].Value {
					errs = append(errs, &Error{File: file, Line: v.Content[i].Line, Path: join(join(path, key.Value), v.Content[i].Value),
						Msg: fmt.Sprintf("also set at line %d", prev.Content[n].Line)})
					continue merge
				}
			}
			prev.Content = append(prev.Content, v.Content[i], v.Content[i+1])
		}
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		head, rest, dotted := strings.Cut(k.Value, ".")
		_, whole := fieldByTag(t, k.Value)
		_, known := fieldByTag(t, head)
		if whole || !dotted || rest == "" || !known {
			put(k, v)
			continue
		}
		sub := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: rest, Line: k.Line, Column: k.Column}, v}}
		put(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: head, Line: k.Line, Column: k.Column}, sub)
	}
	node.Content = out
	return errs
}

// didYouMean suggests the field of t closest to an unknown key, within two
// edits; without one, it names the keys there are where they are few (the
// processors, the partition strategies).
func didYouMean(t reflect.Type, key string) string {
	best, bestD := "", 3
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		if d := editDistance(key, name); d < bestD {
			best, bestD = name, d
		}
	}
	switch {
	case best != "":
		return fmt.Sprintf(" (did you mean %s?)", best)
	case len(names) <= 12:
		return " (known here: " + strings.Join(names, ", ") + ")"
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
		next := yamlpath.Value(node, key)
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
