package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logship/logship/agent"
	"github.com/logship/logship/config"
	"github.com/logship/logship/embedded"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/registry"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Main(t.Context(), args, &out)
	return out.String(), err
}

// `logship test config` prints every problem of each bad fixture, with its
// line and key, and accepts every good one.
func TestTestConfig(t *testing.T) {
	t.Setenv("LOG_DIR", "/logs")
	t.Setenv("MAX_EVENTS", "5000")
	bad, _ := filepath.Glob("../config/testdata/*.bad.yml")
	good, _ := filepath.Glob("../config/testdata/*.good.yml")
	if len(bad) == 0 || len(good) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range bad {
		data, _ := os.ReadFile(f)
		_, err := run(t, "test", "config", "-c", f)
		if err == nil {
			t.Errorf("%s: accepted", f)
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if want, ok := strings.CutPrefix(line, "# error: "); ok {
				if !strings.Contains(err.Error(), filepath.Dir(f)+"/"+want) {
					t.Errorf("%s: output lacks %q:\n%v", f, want, err)
				}
			}
		}
	}
	for _, f := range good {
		out, err := run(t, "test", "config", "-c", f)
		if err != nil || !strings.Contains(out, "configuration OK") {
			t.Errorf("%s: %q, %v", f, out, err)
		}
	}
}

// `logship export config` prints the effective configuration: defaults in,
// secrets out, and it loads again as the same configuration.
func TestExportConfig(t *testing.T) {
	t.Setenv("KAFKA_PASSWORD", "hunter2")
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(path, []byte(`
inputs: [{paths: [/var/log/*.log], multiline: {pattern: '^\s', match: after}}]
output: {kafka: {hosts: ["k:9092"], sasl: {mechanism: PLAIN, username: u, password: "${KAFKA_PASSWORD}"}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "export", "config", "-c", path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "password: '[redacted]'") {
		t.Fatalf("secret not redacted:\n%s", out)
	}
	for _, want := range []string{"max_events: 4096", "close_inactive: 5m0s", "timeout: 5s", "max_lines: 500", "required_acks: -1", "idempotent: true", "partition:\n      hash: {}"} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks the default %q", want)
		}
	}
	again, err := config.Parse("export", []byte(out), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the export does not load again: %v\n%s", err, out)
	}
	orig, _ := config.Load(path)
	if again.Inputs[0].Multiline.MaxLines != orig.Inputs[0].Multiline.MaxLines || again.Queue != orig.Queue || again.Output.Kafka.Hosts[0] != "k:9092" {
		t.Fatal("the export loads as another configuration")
	}
}

// `test output` reports a missing topic as missing, says whether the
// broker would create it, and creates nothing; it checks and produces to
// topics that exist, waits for a new topic's leaders, and reports an
// unreachable broker.
func TestTestOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(addr, extra string) string {
		path := filepath.Join(dir, "agent.yml")
		if err := os.WriteFile(path, []byte("inputs: [{paths: [/x]}]\noutput: {kafka: {hosts: [\""+addr+"\"], topic: logs"+extra+"}}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	topics := func(addr string) []string {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(t.Context(), cl) // every topic, creating none
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tp := range resp.Topics {
			names = append(names, *tp.Topic)
		}
		return names
	}

	// Missing, on a broker that creates topics: a warning, and no topic.
	auto := kafkatest.Start(t, kfake.BrokerConfigs(map[string]string{"auto.create.topics.enable": "true"}))
	out, err := run(t, "test", "output", "-c", write(auto.Addr, ", health_check_topic: health"))
	for _, want := range []string{"warn  topic logs: missing; the broker creates it at the agent's first record (auto.create.topics.enable=true)",
		"warn  topic health: missing", "skip  produce: health_check_topic is missing"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("missing topics: %v, want %q in\n%s", err, want, out)
		}
	}
	if got := topics(auto.Addr); len(got) != 0 {
		t.Fatalf("test output created %q", got)
	}
	// Missing, on a broker that does not create topics: a failure.
	strict := kafkatest.StartStrict(t, kfake.BrokerConfigs(map[string]string{"auto.create.topics.enable": "false"}))
	out, err = run(t, "test", "output", "-c", write(strict.Addr, ""))
	if err == nil || !strings.Contains(out, "FAIL  topic logs: missing, and the broker does not create topics") {
		t.Errorf("missing topic without auto-creation: %v\n%s", err, out)
	}

	// Existing topics, whose leaders come after a few metadata requests.
	kc := kafkatest.Start(t, kfake.SeedTopics(3, "logs", "health"))
	port := kc.Addr[strings.LastIndexByte(kc.Addr, ':')+1:]
	leaderless := 3
	kc.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if leaderless == 0 {
			return nil, nil, false
		}
		leaderless--
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = 7
		resp.ControllerID = 0
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host = 0, "127.0.0.1"
		fmt.Sscan(port, &b.Port)
		resp.Brokers = append(resp.Brokers, b)
		for _, name := range []string{"logs", "health"} {
			tp := kmsg.NewMetadataResponseTopic()
			tp.Topic = kmsg.StringPtr(name)
			pt := kmsg.NewMetadataResponseTopicPartition()
			pt.Leader, pt.ErrorCode = -1, kerr.LeaderNotAvailable.Code
			tp.Partitions = append(tp.Partitions, pt)
			resp.Topics = append(resp.Topics, tp)
		}
		return resp, nil, true
	})
	out, err = run(t, "test", "output", "-c", write(kc.Addr, ""))
	if err != nil || !strings.Contains(out, "ok    topic logs (3 partitions, each with a leader)") || !strings.Contains(out, "skip  produce") {
		t.Fatalf("metadata only: %v\n%s", err, out)
	}
	if leaderless != 0 {
		t.Fatalf("the leaderless answers were not all given (%d left): the wait was not tested", leaderless)
	}
	out, err = run(t, "test", "output", "-c", write(kc.Addr, ", health_check_topic: health"))
	if err != nil || !strings.Contains(out, "ok    produce to health") {
		t.Fatalf("produce: %v\n%s", err, out)
	}
	c := kafkatest.NewConsumer(t, kc.Addr, "health")
	var got []*kgo.Record
	c.Until(t.Context(), 10*time.Second, func(r *kgo.Record) { got = append(got, r) }, func() bool { return len(got) > 0 })
	if len(got) != 1 || !strings.Contains(string(got[0].Value), "test output") {
		t.Fatalf("health topic holds %d records", len(got))
	}

	// embedded: true with the agent's broker already up: that one is checked.
	running, err := embedded.Start("127.0.0.1:0", 3) // a port the kernel chooses
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	addr := running.ListenAddrs()[0]
	path := filepath.Join(dir, "embedded.yml")
	os.WriteFile(path, []byte("inputs: [{paths: [/x]}]\noutput: {kafka: {embedded: true, hosts: [\""+addr+"\"]}}\n"), 0o644)
	out, err = run(t, "test", "output", "-c", path)
	if err != nil || !strings.Contains(out, "ok    embedded broker: "+addr+" is in use") || !strings.Contains(out, "warn  topic logs: missing; the broker creates it") {
		t.Fatalf("embedded, running: %v\n%s", err, out)
	}

	// exactly_once: the transactional id's coordinator, without fencing.
	out, err = run(t, "test", "output", "-c", write(kc.Addr, ", delivery: exactly_once, transactional_id: agent-7"))
	if err != nil || !strings.Contains(out, "ok    transactional id agent-7 (coordinator found") || !strings.Contains(out, "ok    offsets topic logship-offsets: missing; the agent creates it at start") {
		t.Fatalf("exactly_once: %v\n%s", err, out)
	}

	path = filepath.Join(dir, "down.yml")
	os.WriteFile(path, []byte("inputs: [{paths: [/x]}]\noutput: {kafka: {hosts: [\"127.0.0.1:1\"], timeout: 1s}}\n"), 0o644)
	out, err = run(t, "test", "output", "-c", path)
	if err == nil || !strings.Contains(out, "FAIL  connect 127.0.0.1:1: ") || !strings.Contains(out, "connection refused") {
		t.Fatalf("unreachable broker: %v\n%s", err, out)
	}
}

func TestRegistryCommands(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "a.log")
	if err := os.WriteFile(logf, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	regPath := filepath.Join(dir, "data", "registry.json")
	cfgPath := filepath.Join(dir, "agent.yml")
	os.WriteFile(cfgPath, []byte("inputs: [{paths: ["+dir+"/*.log]}]\nregistry: {path: "+regPath+"}\noutput.kafka.hosts: [k:9092]\n"), 0o644)
	fi, _ := os.Stat(logf)
	st, _ := statOf(fi)
	reg, err := registry.Open(regPath, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.Commit(&event.Source{ID: "dev-ino", Path: logf, Dev: st.Dev, Inode: st.Ino}, fileid.Position{Offset: 4, TailLen: -1})
	if err := reg.Flush(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "registry", "show", "-c", cfgPath)
	if err != nil || !strings.Contains(out, logf) || !regexpLine(out, `dev-ino\s+\S+a\.log\s+4\s+8\s+4\s`) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	lock, err := registry.Lock(regPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "registry", "forget", "-c", cfgPath, logf); err == nil || !strings.Contains(err.Error(), "stop the agent first") {
		t.Fatalf("forget under a running agent: %v", err)
	}
	lock.Unlock()
	if out, err := run(t, "registry", "forget", "-c", cfgPath, logf); err != nil || !strings.Contains(out, "forgot dev-ino") {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	if out, _ := run(t, "registry", "show", "-c", cfgPath); !strings.Contains(out, "0 files") {
		t.Fatalf("after forget:\n%s", out)
	}
	if _, err := run(t, "registry", "forget", "-c", cfgPath, "nope"); err == nil {
		t.Fatal("forgetting an unknown file succeeded")
	}
}

func regexpLine(s, re string) bool { return regexp.MustCompile(re).MatchString(s) }

// `test config` runs every check the agent runs at start, not only the
// file's validation: a topic format that cannot be parsed and a registry
// path that cannot hold a registry are refused by both.
func TestTestConfigChecksLikeTheAgent(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yml")
	data := "inputs:\n  - paths: [\"" + dir + "/*.log\"]\nregistry: {path: " + dir + "}\noutput: {kafka: {hosts: [k:9092], topic: \"logs-%{[fields.service\"}}\n"
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"test", "config"}, {}} {
		_, err := run(t, append(cmd, "-c", cfg)...)
		for _, want := range []string{cfg + ": output.kafka.topic: unterminated %{", cfg + ": registry.path: registry " + dir + " is not a regular file but a directory"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v, want %q", cmd, err, want)
			}
		}
	}
}

func TestLoggerLevelRefused(t *testing.T) {
	if _, err := newLogger(config.Logging{Level: "verbose"}, io.Discard); err == nil || !strings.Contains(err.Error(), "logging.level") {
		t.Fatalf("level verbose: %v", err)
	}
}

// version names the commit and the build date: from -ldflags when set,
// else from the VCS stamp, else "unknown".
func TestVersion(t *testing.T) {
	Commit, BuildDate = "abc123", "2026-12-01T00:00:00Z"
	defer func() { Commit, BuildDate = "", "" }()
	var out bytes.Buffer
	if err := Main(t.Context(), []string{"version"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^logship \S+ \(commit abc123, built 2026-12-01T00:00:00Z, go\S+ \w+/\w+\)\n$`).MatchString(out.String()) {
		t.Fatalf("version printed %q", out.String())
	}
}

// Without -c the default path is read when it exists; without either,
// export config prints the defaults and the other commands say what is
// missing.
func TestDefaultConfigPath(t *testing.T) {
	dir := t.TempDir()
	old := DefaultConfigPath
	defer func() { DefaultConfigPath = old }()
	DefaultConfigPath = filepath.Join(dir, "agent.yml")
	if _, err := run(t, "test", "config"); err == nil || !strings.Contains(err.Error(), "no configuration file: use -c FILE ("+DefaultConfigPath+" does not exist)") {
		t.Errorf("no file: %v", err)
	}
	out, err := run(t, "export", "config")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"batch_events: 2048", "hosts:\n      - localhost:9092", "start_position: beginning", "max_bytes: 900KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("defaults lack %q:\n%s", want, out)
		}
	}
	// What export config prints is a configuration that loads.
	if err := os.WriteFile(DefaultConfigPath, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(DefaultConfigPath); err != nil {
		t.Errorf("exported defaults do not load: %v", err)
	}
	os.WriteFile(DefaultConfigPath, []byte("inputs: [{paths: [\""+dir+"/*.log\"]}]\nregistry: {path: "+dir+"/registry.json}\noutput.kafka.hosts: k:9092\n"), 0o644)
	if out, err := run(t, "test", "config"); err != nil || out != DefaultConfigPath+": configuration OK (1 inputs)\n" {
		t.Errorf("default path: %q, %v", out, err)
	}
}

// 3 says "stopped with events left, read again at the next start" and
// nothing else; a failure that also left events (a fenced agent) is 1.
func TestExitCode(t *testing.T) {
	left := &agent.Unacknowledged{Events: 5}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{left, 3},
		{fmt.Errorf("stop: %w", left), 3},
		{errors.Join(left), 3},
		{errors.New("output: fenced"), 1},
		{errors.Join(errors.New("output: fenced"), left), 1},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
