package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
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
		errs = append(errs, yamlError(name, err))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, cfg.validate(name, root)
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
		return &Error{File: name, Line: line, Msg: m[2]}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}
