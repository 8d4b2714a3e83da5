package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one configuration problem: where it is and what is wrong.
type Error struct {
	File string
	Line int    // 0 when unknown
	Path string // the key's path, e.g. "inputs[0].paths"; "" for the document
	Msg  string
}

func (e *Error) Error() string {
	var b bytes.Buffer
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, expands, decodes and validates the configuration file at path.
// The error, if any, joins every problem found (see Error).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load on data already read; name is used in errors and lookup
// resolves ${VAR} references.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, yamlError(name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file: all defaults
		return cfg, cfg.validate(name, nil)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Config{}, &Error{File: name, Line: root.Line, Msg: "the document must be a mapping of keys to values"}
	}
	var errs []error
	errs = append(errs, expandNode(name, root, "", lookup)...)
	errs = append(errs, checkKeys(name, root, typeOfConfig, "")...)
	if err := root.Decode(&cfg); err != nil {
		errs = append(errs, typeErrors(name, root, err))
	}
	if k := &cfg.Output.Kafka; k.Embedded && len(k.Hosts) == 0 {
		k.Hosts = HostList{DefaultEmbeddedAddr} // where the embedded broker listens
	}
	if k := &cfg.Output.Kafka; k.ExactlyOnce() && k.TransactionalID == "" {
		k.TransactionalID = DefaultTransactionalID(cfg.Registry.Path, lookup)
	}
	verr := cfg.validate(name, root)
	if len(errs) > 0 {
		// Every problem in one pass: what validation finds in the parts
		// that decoded, but not again about a key reported already.
		errs = append(errs, unreported(verr, errs)...)
		return Config{}, errors.Join(errs...)
	}
	if verr != nil {
		return Config{}, verr
	}
	cfg.applyGlobals()
	return cfg, nil
}

// DefaultTransactionalID is exactly_once's transactional id when the
// configuration gives none: stable across restarts, and unique per agent
// (its node, or host, and its registry file, which no two agents share):
// logship-NODE-HASH, NODE from $NODE_NAME (Kubernetes) or the hostname.
func DefaultTransactionalID(registryPath string, lookup func(string) (string, bool)) string {
	node, _ := lookup("NODE_NAME")
	if node == "" {
		node, _ = os.Hostname()
	}
	abs, err := filepath.Abs(registryPath)
	if err != nil {
		abs = registryPath
	}
	sum := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("logship-%s-%x", node, sum[:4])
}

// unreported is the problems in err (a join of Errors) that are not about
// a key, or a key below one, that reported has already, nor about the
// mapping on the same line that holds one (an unknown processor makes its
// entry "set exactly one of …").
func unreported(err error, reported []error) []error {
	var done []*Error
	for _, r := range flatten(reported) {
		if e, ok := r.(*Error); ok && e.Path != "" {
			done = append(done, e)
		}
	}
	below := func(path, p string) bool {
		return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
	}
	var out []error
	for _, v := range flatten([]error{err}) {
		e, ok := v.(*Error)
		covered := false
		for _, d := range done {
			if ok && (below(e.Path, d.Path) || e.Line == d.Line && below(d.Path, e.Path)) {
				covered = true
			}
		}
		if !covered {
			out = append(out, v)
		}
	}
	return out
}

func flatten(errs []error) []error {
	var out []error
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, flatten(j.Unwrap())...)
		} else if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// typeErrors is yamlError with each type mismatch said in words and with
// the key at its line.
func typeErrors(name string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return yamlError(name, err)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		e, ok := lineError(name, msg).(*Error)
		if !ok {
			errs = append(errs, lineError(name, msg))
			continue
		}
		if m := mismatch.FindStringSubmatch(e.Msg); m != nil {
			switch m[1] {
			case "map":
				e.Path = pathAt(root, e.Line, yaml.MappingNode, "")
				e.Msg = "is a mapping of keys, where " + words(m[3]) + " is expected"
			case "seq":
				e.Path = pathAt(root, e.Line, yaml.SequenceNode, "")
				e.Msg = "is a list, where " + words(m[3]) + " is expected"
			default:
				e.Path = pathAt(root, e.Line, yaml.ScalarNode, "")
				e.Msg = fmt.Sprintf("%q is not %s", m[2], words(m[3]))
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

var mismatch = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// words names a Go type the way a config's reader thinks of it.
func words(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping of keys"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a single value"
	}
	return "a mapping of keys"
}

// pathAt is the path of the key whose value of the given kind starts at
// line below node (the innermost such key).
func pathAt(node *yaml.Node, line int, kind yaml.Kind, path string) string {
	p, _ := findLine(node, line, kind, path)
	return p
}

func findLine(node *yaml.Node, line int, kind yaml.Kind, path string) (string, bool) {
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			p := join(path, k.Value)
			if found, ok := findLine(v, line, kind, p); ok {
				return found, true
			}
			if v.Line == line && v.Kind == kind {
				return p, true
			}
		}
	case yaml.SequenceNode:
		for i, v := range node.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			if found, ok := findLine(v, line, kind, p); ok {
				return found, true
			}
			if v.Line == line && v.Kind == kind {
				return p, true
			}
		}
	}
	return path, false
}

// UnmarshalYAML fills an input's defaults before decoding it.
func (in *Input) UnmarshalYAML(unmarshal func(any) error) error {
	*in = DefaultInput()
	type plain Input
	if err := unmarshal((*plain)(in)); err != nil {
		return err
	}
	if in.Type == InputContainer {
		// The container defaults apply to the keys the user left out,
		// never over a value given, even one equal to the log default.
		var given map[string]any
		if err := unmarshal(&given); err != nil {
			return err
		}
		set := func(key string) bool { _, ok := given[key]; return ok }
		// Kubelet's layout: /var/log/containers holds symlinks into
		// /var/log/pods, and rotated files sit beside the live one.
		if !set("paths") {
			in.Paths = []string{"/var/log/containers/*.log"}
		}
		if !set("symlinks") {
			in.Symlinks = true
		}
		if !set("rotated_files") {
			for _, p := range in.Paths {
				switch {
				case strings.HasPrefix(p, "/var/log/containers/"):
					// The symlinks lead to /var/log/pods, where kubelet
					// leaves the rotated files.
					if !slices.Contains(in.RotatedFiles, kubeletRotated) {
						in.RotatedFiles = append(in.RotatedFiles, kubeletRotated)
					}
				case strings.HasSuffix(p, ".log"):
					in.RotatedFiles = append(in.RotatedFiles, p+".*")
				}
			}
		}
		if !set("decompress") {
			in.Decompress = "auto"
		}
	}
	return nil
}

// kubeletRotated is where kubelet keeps rotated container logs.
const kubeletRotated = "/var/log/pods/*/*/*.log.*"

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into one Error a line.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, msg := range te.Errors {
			errs = append(errs, lineError(name, msg))
		}
		return errors.Join(errs...)
	}
	return lineError(name, err.Error())
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func lineError(name, msg string) error {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg := m[2]
		// yaml.v3 gives these parser errors the line, counted from 0, of
		// the list, mapping or block being parsed: counted from 1, that
		// is where it starts. (For "node content" the 0-based line of the
		// missing node is the line that asked for it, as it says.)
		switch msg {
		case "did not find expected ',' or ']'":
			line, msg = line+1, "the list opened on this line is not closed ("+msg+")"
		case "did not find expected ',' or '}'":
			line, msg = line+1, "the mapping opened on this line is not closed ("+msg+")"
		case "did not find expected key", "did not find expected '-' indicator":
			line, msg = line+1, "in the block that starts on this line: "+msg
		}
		return &Error{File: name, Line: line, Msg: msg}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}
