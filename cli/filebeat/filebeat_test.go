package filebeat

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logship/logship/agent"
	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/eventually"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

var update = flag.Bool("update", false, "rewrite testdata/filebeat/*.notes from the importer")

const dir = "../../testdata/filebeat"

// corpus names the Filebeat files: NAME.yml, beside NAME.logship.yml (the
// same written by hand) and NAME.notes (what the importer must list).
func corpus(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	var names []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".logship.yml") {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".yml"))
		}
	}
	if len(names) < 4 {
		t.Fatalf("corpus of %d files", len(names))
	}
	return names
}

// env is what the corpus's ${VAR}s hold here.
func env(t *testing.T) {
	t.Setenv("KAFKA_HOSTS", "kafka-1:9092")
	t.Setenv("KAFKA_PASSWORD", "s3cret")
	t.Setenv("NODE_NAME", "node-1")
}

// withCerts points the corpus's certificate paths at pki's files.
func withCerts(data []byte, pki *kafkatest.PKI) []byte {
	return []byte(strings.NewReplacer("/etc/filebeat/certs/ca.pem", pki.CAFile, "/etc/filebeat/certs/client.pem", pki.ClientCert,
		"/etc/filebeat/certs/client-key.pem", pki.ClientKey).Replace(string(data)))
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Each Filebeat file imports into a configuration that `test config`
// accepts, listing exactly the keys of NAME.notes as not carried over.
func TestCorpusImports(t *testing.T) {
	env(t)
	pki := kafkatest.NewPKI(t)
	for _, name := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			res, err := Import(name+".yml", withCerts(read(t, name+".yml"), pki))
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Config)
			}
			var notes strings.Builder
			for _, n := range res.Notes {
				fmt.Fprintln(&notes, n)
			}
			if *update {
				os.WriteFile(filepath.Join(dir, name+".notes"), []byte(notes.String()), 0o644)
			}
			if want := string(read(t, name+".notes")); notes.String() != want {
				t.Errorf("notes:\n%s\nwant:\n%s", notes.String(), want)
			}
			// As `logship test config` checks it.
			path := filepath.Join(t.TempDir(), "agent.yml")
			os.WriteFile(path, res.Config, 0o644)
			cfg, err := config.Load(path)
			if err == nil {
				err = agent.Check(path, cfg)
			}
			if err != nil {
				t.Fatalf("test config: %v\n%s", err, res.Config)
			}
		})
	}
}

// Every key a Filebeat file has is either in the import or in its notes:
// a key the importer neither carries nor lists fails here.
func TestEveryKeyAccountedFor(t *testing.T) {
	res, err := Import("x.yml", []byte("filebeat.inputs: [{type: log, paths: [/a], frobnicate: 1, multiline.zap: 2}]\nunknown.top: 3\noutput.kafka: {hosts: [k:9092], weird: 4}\n"))
	if err == nil {
		t.Fatalf("a multiline without a pattern loaded:\n%s", res.Config)
	}
	var keys []string
	for _, n := range res.Notes {
		keys = append(keys, n.Key)
	}
	slices.Sort(keys)
	if want := []string{"filebeat.inputs[0].frobnicate", "filebeat.inputs[0].multiline.zap", "output.kafka.weird", "unknown.top"}; !slices.Equal(keys, want) {
		t.Fatalf("notes for %q, want %q", keys, want)
	}
}

// The imported configuration ships the same Kafka records as the one
// written by hand: both run on the same sample logs, each into a broker of
// its own, and every record (topic, key, headers, value) is compared.
func TestCorpusShipsTheSame(t *testing.T) {
	env(t)
	pki := kafkatest.NewPKI(t)
	events := map[string]int{"nginx": 9, "java": 6, "kubernetes": 4, "kafka-sasl-tls": 5}
	for _, name := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			res, err := Import(name+".yml", withCerts(read(t, name+".yml"), pki))
			if err != nil {
				t.Fatal(err)
			}
			imported, err := config.Parse(name+".yml (imported)", res.Config, os.LookupEnv)
			if err != nil {
				t.Fatal(err)
			}
			byHand, err := config.Parse(name+".logship.yml", withCerts(read(t, name+".logship.yml"), pki), os.LookupEnv)
			if err != nil {
				t.Fatal(err)
			}
			a, b := ship(t, imported, pki), ship(t, byHand, pki)
			if len(a) != events[name] {
				t.Errorf("the import shipped %d records, want %d:\n%s", len(a), events[name], strings.Join(a, "\n"))
			}
			if !slices.Equal(a, b) {
				t.Errorf("imported:\n%s\nby hand:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
		})
	}
}

// ship runs the agent on cfg over a copy of the sample logs, into a broker
// of its own (with TLS and SCRAM when cfg asks for them), until the
// registry has every file at its end, and returns the records it wrote,
// each as one comparable line, sorted.
func ship(t *testing.T, cfg config.Config, pki *kafkatest.PKI) []string {
	t.Helper()
	root := t.TempDir()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "logs"), p)
		data, _ := os.ReadFile(p)
		dst := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		files = append(files, dst)
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	k := &cfg.Output.Kafka
	var opts []kfake.Opt
	var read []kgo.Opt
	if k.TLS.Enabled {
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.Pool, MinVersion: tls.VersionTLS12}))
		read = append(read, kgo.DialTLSConfig(&tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}}))
	}
	if k.SASL.Mechanism != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(k.SASL.Mechanism, k.SASL.Username, string(k.SASL.Password)))
		read = append(read, kgo.SASL(scram.Auth{User: k.SASL.Username, Pass: string(k.SASL.Password)}.AsSha512Mechanism()))
	}
	kc := kafkatest.Start(t, opts...)
	k.Hosts = config.HostList{kc.Addr}
	k.DeadLetter.Path = filepath.Join(root, "dead-letter.ndjson")
	cfg.Registry.Path = filepath.Join(root, "registry.json")
	cfg.Registry.FlushInterval = config.Duration(100 * time.Millisecond)
	cfg.HTTP.Enabled = false
	for i := range cfg.Inputs {
		in := &cfg.Inputs[i]
		for j, p := range in.Paths {
			in.Paths[j] = root + p
		}
		for j, p := range in.RotatedFiles {
			in.RotatedFiles[j] = root + p
		}
		// No API server here: the pods' metadata is left out of both runs.
		in.AddKubernetesMetadata.Enabled = false
	}
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), agent.Options{})
	}()
	eventually.Within(t, 30*time.Second, "the registry at the end of every sample log", func() bool {
		if _, err := os.Stat(cfg.Registry.Path); err != nil {
			return false
		}
		offs := testlines.RegistryOffsets(t, cfg.Registry.Path)
		for _, f := range files {
			fi, _ := os.Stat(f)
			if matched(cfg, f) && offs[f] != fi.Size() {
				return false
			}
		}
		return true
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range kafkatest.All(t, kc.Addr, read...) {
		var hs []string
		for _, h := range r.Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		slices.Sort(hs)
		line := fmt.Sprintf("%s key=%q headers=%q %s", r.Topic, r.Key, hs, canonical(r.Value))
		out = append(out, strings.ReplaceAll(line, root, "ROOT")) // each run reads its own copy

	}
	slices.Sort(out)
	return out
}

// matched reports whether an input of cfg reads path.
func matched(cfg config.Config, path string) bool {
	for _, in := range cfg.Inputs {
		for _, p := range in.Paths {
			if ok, _ := filepath.Match(p, path); ok {
				return true
			}
		}
	}
	return false
}

// canonical is a record's value with its keys in order; an @timestamp
// that is the time of reading (within the last hour) is left out.
func canonical(v []byte) string {
	d := json.NewDecoder(strings.NewReader(string(v)))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		return string(v) // codec raw
	}
	if ts, ok := doc["@timestamp"].(string); ok {
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && time.Since(at) < time.Hour {
			delete(doc, "@timestamp")
		}
	}
	out, _ := json.Marshal(doc)
	return string(out)
}

// docs/filebeat.md has a row for every filestream key logship renames or
// refuses, and every processor it carries over.
func TestDocsListEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/filebeat.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, k := range config.FilestreamKeys() {
		if !strings.Contains(doc, "`"+k.From+"`") {
			t.Errorf("docs/filebeat.md does not list filestream's %s", k.From)
		}
	}
	for name := range processorKeys {
		if !strings.Contains(doc, name) {
			t.Errorf("docs/filebeat.md does not list the processor %s", name)
		}
	}
}
