package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var testEnv = env(map[string]string{"LOG_DIR": "/logs", "MAX_EVENTS": "5000"})

func parseFile(t *testing.T, path string) (Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(filepath.Base(path), data, testEnv)
}

func TestGoodFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := parseFile(t, f); err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
		})
	}
}

// Each bad fixture lists the errors it must produce, one "# error: " line each.
func TestBadFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			var want []string
			for line := range strings.SplitSeq(string(data), "\n") {
				if s, ok := strings.CutPrefix(line, "# error: "); ok {
					want = append(want, s)
				}
			}
			if len(want) == 0 {
				t.Fatal("fixture declares no expected error")
			}
			_, err := parseFile(t, f)
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("errors differ\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func TestDefaultsAndExpansion(t *testing.T) {
	cfg, err := parseFile(t, "testdata/env.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Inputs[0]
	if got := in.Paths[0]; got != "/logs/*.log" {
		t.Errorf("paths[0] = %q", got)
	}
	if got := in.Fields["env"]; got != "staging" {
		t.Errorf("fields.env = %v", got)
	}
	if cfg.Queue.MaxEvents != 5000 {
		t.Errorf("max_events = %d, want 5000 from ${MAX_EVENTS}", cfg.Queue.MaxEvents)
	}
	if got := cfg.Output.Kafka.Hosts[0]; got != "127.0.0.1:9092" {
		t.Errorf("hosts[0] = %q (default after the first colon)", got)
	}
	// Input defaults apply to every input, not only to the first.
	if in.MaxBytes != DefaultMaxBytes || in.ScanFrequency.D() != 10*time.Second || in.StartPosition != StartBeginning {
		t.Errorf("input defaults not applied: %+v", in)
	}
	if cfg.Queue.BatchEvents != 2048 || cfg.Output.Kafka.Codec != CodecJSON || cfg.ShutdownTimeout.D() != 10*time.Second {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestFullValues(t *testing.T) {
	cfg, err := parseFile(t, "testdata/full.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inputs[0].MaxBytes != 64*KiB || cfg.Queue.MaxBytes != 32*MiB || cfg.Queue.FlushInterval.D() != 100*time.Millisecond {
		t.Errorf("sizes or durations wrong: %+v %+v", cfg.Inputs[0], cfg.Queue)
	}
	if cfg.Output.Kafka.RequiredAcks != 1 || cfg.Output.Kafka.Compression != "zstd" {
		t.Errorf("kafka: %+v", cfg.Output.Kafka)
	}
}

func TestExpand(t *testing.T) {
	lookup := env(map[string]string{"A": "x", "EMPTY": ""})
	for in, want := range map[string]string{
		"${A}":         "x",
		"a-${A}-b":     "a-x-b",
		"${B:def}":     "def",
		"${EMPTY:def}": "",
		"$$${A}":       "$x",
		"cost $5":      "cost $5",
		"$":            "$",
		"${B:a:b}":     "a:b",
	} {
		got, err := expand(in, lookup)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${B}", "${A", "${}"} {
		if _, err := expand(in, lookup); err == nil {
			t.Errorf("expand(%q): no error", in)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1MiB": MiB, "512KiB": 512 * KiB, "16MB": 16e6, "100": 100, "2 GiB": 2 * GiB, "10B": 10} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1TB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yml") {
		t.Fatalf("error should name the file: %v", err)
	}
}

func TestSecretNeverShows(t *testing.T) {
	s := Secret("hunter2")
	for _, got := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("secret shown: %q", got)
		}
	}
	cfg := Default()
	cfg.Output.Kafka.SASL.Password = s
	out, err := yaml.Marshal(cfg)
	if err != nil || strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), Redacted) {
		t.Fatalf("marshalled config shows the secret (%v):\n%s", err, out)
	}
	if s.Value() != "hunter2" {
		t.Fatal("Value lost the secret")
	}
}

func TestContainerDefaults(t *testing.T) {
	cfg, err := Parse("c.yml", []byte("inputs:\n  - type: container\n  - type: container\n    paths: [/var/log/pods/*/*/*.log]\noutput.kafka.hosts: [k:9092]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Inputs[0], cfg.Inputs[1]
	if !slices.Equal(a.Paths, []string{"/var/log/containers/*.log"}) || !slices.Equal(a.RotatedFiles, []string{"/var/log/pods/*/*/*.log.*"}) {
		t.Errorf("defaults of /var/log/containers: paths %v, rotated_files %v", a.Paths, a.RotatedFiles)
	}
	if !slices.Equal(b.RotatedFiles, []string{"/var/log/pods/*/*/*.log.*"}) {
		t.Errorf("rotated_files of /var/log/pods: %v", b.RotatedFiles)
	}
	for _, in := range cfg.Inputs {
		if !in.Symlinks || in.Decompress != "auto" || in.Format != FormatAuto || in.Stream != StreamAll {
			t.Errorf("container defaults: symlinks %v, decompress %s, format %s, stream %s", in.Symlinks, in.Decompress, in.Format, in.Stream)
		}
	}
}

// The container defaults fill only what the user left out: an explicit
// value is kept even where it equals the log input's default.
func TestContainerDefaultsKeepExplicitValues(t *testing.T) {
	cfg, err := Parse("c.yml", []byte("inputs:\n  - type: container\n    symlinks: false\n    decompress: none\n    rotated_files: []\noutput.kafka.hosts: [k:9092]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Inputs[0]
	if in.Symlinks || in.Decompress != "none" || len(in.RotatedFiles) != 0 {
		t.Fatalf("explicit values overridden: symlinks %v, decompress %s, rotated_files %v", in.Symlinks, in.Decompress, in.RotatedFiles)
	}
}

func TestSourceHeadersNeedRaw(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(path, []byte("inputs: [{paths: [/x]}]\noutput:\n  kafka: {hosts: [k:9092], codec: json, source_headers: false}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "agent.yml:3: output.kafka.source_headers: applies to codec: raw only") {
		t.Fatalf("err = %v", err)
	}
}

// Dotted keys, as Filebeat configurations write them, mean exactly the
// nested form, at any depth and mixed with it.
func TestDottedKeys(t *testing.T) {
	nested := `inputs:
  - paths: ["/var/log/app/*.log"]
    multiline: {pattern: '^\d', negate: true, match: after}
output:
  kafka: {hosts: ["k1:9092"], topic: app, partition: {round_robin: {}}}
queue: {max_events: 5000}
`
	dotted := `inputs:
  - paths: ["/var/log/app/*.log"]
    multiline.pattern: '^\d'
    multiline.negate: true
    multiline: {match: after}
output.kafka.hosts: ["k1:9092"]
output.kafka.topic: app
output:
  kafka.partition.round_robin: {}
queue.max_events: 5000
`
	want, err := Parse("nested.yml", []byte(nested), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("dotted.yml", []byte(dotted), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("dotted:\n%+v\nnested:\n%+v", got, want)
	}
}

// One environment variable can hold the broker list: a string of hosts
// separated by commas is a list of them.
func TestHostsAsOneString(t *testing.T) {
	env := func(string) (string, bool) { return "k1:9092, k2:9092,k3:9092", true }
	for _, y := range []string{
		"inputs: [{paths: [/x]}]\noutput: {kafka: {hosts: \"${BROKERS}\"}}\n",
		"inputs: [{paths: [/x]}]\noutput: {kafka: {hosts: [k1:9092, k2:9092, k3:9092]}}\n",
	} {
		cfg, err := Parse("agent.yml", []byte(y), env)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"k1:9092", "k2:9092", "k3:9092"}; !reflect.DeepEqual([]string(cfg.Output.Kafka.Hosts), want) {
			t.Fatalf("%s: hosts %q, want %q", y, cfg.Output.Kafka.Hosts, want)
		}
	}
}

// type: filestream is the log input with filestream's names mapped: the
// dotted, nested and mixed forms all mean logship's keys; the input type
// stays filestream (input.type in events, as Filebeat sends it).
func TestFilestream(t *testing.T) {
	native := `inputs:
  - {type: filestream, id: a, paths: [/x/*.log], scan_frequency: 5s, exclude_files: ['\.gz$'], symlinks: true,
     close_inactive: 2m, close_removed: false, close_renamed: true, close_eof: true, max_bytes: 10000}
output.kafka.hosts: k:9092
`
	for _, y := range []string{`inputs:
  - type: filestream
    id: a
    paths: [/x/*.log]
    prospector.scanner.check_interval: 5s
    prospector.scanner.exclude_files: ['\.gz$']
    prospector.scanner.symlinks: true
    close.on_state_change.inactive: 2m
    close.on_state_change.removed: false
    close.on_state_change.renamed: true
    close.reader.on_eof: true
    message_max_bytes: 10000
output.kafka.hosts: k:9092
`, `inputs:
  - type: filestream
    id: a
    paths: [/x/*.log]
    prospector: {scanner: {check_interval: 5s, exclude_files: ['\.gz$'], symlinks: true}}
    close.on_state_change: {inactive: 2m, removed: false, renamed: true}
    close: {reader.on_eof: true}
    message_max_bytes: 10000
output.kafka.hosts: k:9092
`} {
		want, err := Parse("native.yml", []byte(native), os.LookupEnv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse("filestream.yml", []byte(y), os.LookupEnv)
		if err != nil {
			t.Fatalf("%v\n%s", err, y)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("filestream:\n%+v\nnative:\n%+v", got.Inputs[0], want.Inputs[0])
		}
		if got.Inputs[0].Type != InputFilestream {
			t.Fatalf("type %q", got.Inputs[0].Type)
		}
	}
}

// The settings for every input (fields, tags, processors) fold into each
// input in Filebeat's order, an input's own field wins, and a disabled
// input is left out.
func TestGlobals(t *testing.T) {
	cfg, err := Parse("agent.yml", []byte(`inputs:
  - {id: a, paths: [/a], tags: [web], fields: {service: a, env: dev}, processors: [{drop_fields: {fields: [host]}}]}
  - {id: off, enabled: false, paths: [/off]}
  - {id: b, paths: [/b], fields: {service: b}, fields_under_root: true}
fields: {env: prod, team: core}
tags: [eu]
processors: [{add_host_metadata: {}}]
output.kafka.hosts: k:9092
`), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Inputs) != 2 || cfg.Inputs[0].ID != "a" || cfg.Inputs[1].ID != "b" {
		t.Fatalf("inputs %+v", cfg.Inputs)
	}
	a, b := cfg.Inputs[0], cfg.Inputs[1]
	if want := map[string]any{"service": "a", "env": "dev", "team": "core"}; !reflect.DeepEqual(a.Fields, want) || a.FieldsUnderRoot {
		t.Errorf("a's fields %v (under root %v), want %v", a.Fields, a.FieldsUnderRoot, want)
	}
	names := func(ps []Processor) []string {
		var out []string
		for _, p := range ps {
			switch {
			case p.AddTags != nil:
				out = append(out, "add_tags "+strings.Join(p.AddTags.Tags, ","))
			case p.AddFields != nil:
				out = append(out, "add_fields "+p.AddFields.Target)
			case p.DropFields != nil:
				out = append(out, "drop_fields")
			case p.AddHostMetadata != nil:
				out = append(out, "add_host_metadata")
			}
		}
		return out
	}
	if got, want := names(a.Processors), []string{"add_tags web", "drop_fields", "add_tags eu", "add_host_metadata"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a's processors %q, want %q", got, want)
	}
	// b's fields are under the root, the top-level ones are not.
	if got, want := names(b.Processors), []string{"add_fields fields", "add_tags eu", "add_host_metadata"}; !reflect.DeepEqual(got, want) {
		t.Errorf("b's processors %q, want %q", got, want)
	}
	if cfg.Fields != nil || cfg.Tags != nil || cfg.Processors != nil {
		t.Error("the top-level settings are left after folding them into the inputs")
	}
	if _, err := Parse("agent.yml", []byte("inputs: [{paths: [/a], enabled: false}]\noutput.kafka.hosts: k:9092\n"), os.LookupEnv); err == nil ||
		!strings.Contains(err.Error(), "agent.yml:1: inputs: every input has enabled: false; at least one must be enabled") {
		t.Errorf("every input disabled: %v", err)
	}
}

// exactly_once without a transactional id gets one that is stable for an
// agent (its node and its registry) and differs between two agents.
func TestDefaultTransactionalID(t *testing.T) {
	parse := func(registry, node string) string {
		t.Helper()
		y := "inputs: [{paths: [/x]}]\nregistry.path: " + registry + "\noutput.kafka: {hosts: [k:9092], delivery: exactly_once}\n"
		cfg, err := Parse("agent.yml", []byte(y), func(k string) (string, bool) { return node, k == "NODE_NAME" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Output.Kafka.TransactionalID
	}
	a := parse("/var/lib/logship/registry.json", "node-1")
	if !regexp.MustCompile(`^logship-node-1-[0-9a-f]{8}$`).MatchString(a) {
		t.Fatalf("transactional id %q", a)
	}
	if b := parse("/var/lib/logship/registry.json", "node-1"); b != a {
		t.Errorf("not stable: %q then %q", a, b)
	}
	if b := parse("/var/lib/other/registry.json", "node-1"); b == a {
		t.Errorf("two agents on one node share %q", a)
	}
	if b := parse("/var/lib/logship/registry.json", "node-2"); b == a {
		t.Errorf("two nodes share %q", a)
	}
}

// A YAML syntax error names the line where the unclosed list or mapping
// starts (yaml.v3 counts a parser error's line from 0).
func TestYAMLSyntaxLines(t *testing.T) {
	for doc, want := range map[string]string{
		"a: 1\nb: [1, 2\nc: 3\n":                                    "x.yml:2: the list opened on this line is not closed",
		"inputs:\n  - paths: [/x]\n    fields: {a: 1, b: 2\nq: 1\n": "x.yml:3: the mapping opened on this line is not closed",
		"a: 1\nb: \"x\n":                                            "x.yml:2: found unexpected end of stream",
	} {
		_, err := Parse("x.yml", []byte(doc), os.LookupEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}
