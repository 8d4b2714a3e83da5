package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
	"github.com/logship/logship/internal/testlog"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sarama's go-metrics meters share one ticker goroutine per process.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		// sarama's circuit breaker (one per partition producer) sleeps 10 s
		// once it opens, on a goroutine of its own that outlives a
		// producer stopped during an outage by up to that long.
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
	)
}

func testConfig(dir, addr string) config.Config {
	cfg := config.Default()
	in := config.DefaultInput()
	in.Paths = []string{filepath.Join(dir, "logs", "*.log")}
	in.ScanFrequency = config.Duration(200 * time.Millisecond)
	cfg.Inputs = []config.Input{in}
	cfg.Registry.Path = filepath.Join(dir, "registry.json")
	cfg.Registry.FlushInterval = config.Duration(100 * time.Millisecond)
	cfg.Output.Kafka.Hosts = []string{addr}
	cfg.Output.Kafka.Codec = config.CodecRaw
	cfg.Logging.Level = "warn"
	return cfg
}

type running struct {
	cancel context.CancelFunc
	done   chan error
	logs   *testlog.Buffer // what the agent logged, from INFO up
}

// start runs the agent on cfg; what it logs is kept (see httpAddr) and
// shown when the test fails.
func start(t *testing.T, cfg config.Config) *running {
	t.Helper()
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- Run(ctx, cfg, log, Options{}) }()
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("agent: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
}

// consume reads the topic until want distinct lines arrived.
func consume(t *testing.T, c *kafkatest.Consumer, seen *testlines.Seen, want int, timeout time.Duration) {
	t.Helper()
	if !c.Until(t.Context(), timeout, func(r *kgo.Record) { seen.Add(string(r.Value)) }, func() bool { return seen.Distinct() >= want }) {
		t.Fatalf("%d of %d lines arrived; missing e.g. %v", seen.Distinct(), want, seen.Missing(10, want))
	}
}

// The integration test of the core pipeline (at_least_once, no faults): 10
// files × 100,000 lines, each found once in Kafka by an independent
// consumer, and the registry at every file's end.
func TestShipsEveryLineOnceWithoutFaults(t *testing.T) {
	const files, lines = 10, 100_000
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	cfg := testConfig(dir, kc.Addr)
	for f := range files {
		testlines.Append(t, logPath(dir, f), f, 0, lines/2)
	}
	a := start(t, cfg)
	for f := range files { // and more while it runs
		testlines.Append(t, logPath(dir, f), f, lines/2, lines)
	}
	seen := testlines.NewSeen()
	consume(t, kafkatest.NewConsumer(t, kc.Addr, "logs"), seen, files*lines, 5*time.Minute)
	a.stop(t)
	if seen.Dups != 0 || seen.Bad != 0 {
		t.Fatalf("%d duplicates, %d malformed", seen.Dups, seen.Bad)
	}
	offs := testlines.RegistryOffsets(t, cfg.Registry.Path)
	for f := range files {
		if got := offs[logPath(dir, f)]; got != lines*testlines.LineLen {
			t.Errorf("file %d: registry offset %d, want %d", f, got, lines*testlines.LineLen)
		}
	}
}

func logPath(dir string, f int) string {
	return filepath.Join(dir, "logs", "f"+strconv.Itoa(f)+".log")
}

// offsetChecker reads the registry on disk over and over and fails the test
// if it ever holds an offset past a line the broker had not been given.
type offsetChecker struct {
	t       *testing.T
	regPath string
	dir     string
	files   int
	gate    *kafkatest.Gate
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	bad     []string
	checks  int
}

func checkOffsets(t *testing.T, regPath, dir string, files int, gate *kafkatest.Gate) *offsetChecker {
	c := &offsetChecker{t: t, regPath: regPath, dir: dir, files: files, gate: gate, stop: make(chan struct{})}
	c.wg.Go(func() {
		verified := make(map[int]int64)
		for {
			select {
			case <-c.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			offs := testlines.RegistryOffsets(t, regPath)
			c.mu.Lock()
			c.checks++
			for f := range files {
				off := offs[logPath(dir, f)]
				for i := verified[f] / testlines.LineLen; i < off/testlines.LineLen; i++ {
					if !gate.Written(testlines.Line(f, int(i))) {
						c.bad = append(c.bad, fmt.Sprintf("file %d: registry offset %d covers line %d, which the broker never took", f, off, i))
					}
				}
				verified[f] = max(verified[f], off)
			}
			c.mu.Unlock()
		}
	})
	return c
}

func (c *offsetChecker) finish() {
	close(c.stop)
	c.wg.Wait()
	if c.checks < 10 {
		c.t.Errorf("registry checked only %d times", c.checks)
	}
	if len(c.bad) > 0 {
		c.t.Fatalf("offsets ran ahead of delivery %d times; first: %s", len(c.bad), c.bad[0])
	}
}

// writeSteadily appends lines to every file at a steady rate until stop.
func writeSteadily(t *testing.T, dir string, files int, next []int, stop <-chan struct{}) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for f := range files {
			testlines.Append(t, logPath(dir, f), f, next[f], next[f]+20)
			next[f] += 20
		}
	}
}

// faultRun ships 3 files written at a steady rate through a fault: the
// agent runs, fault is called after a second, lines keep coming for a
// second after it returns, then every line must arrive and the registry
// must never have covered a line the broker did not take.
func faultRun(t *testing.T, kc *kafkatest.Cluster, gate *kafkatest.Gate, fault func() *kafkatest.Cluster) {
	const files = 3
	dir := t.TempDir()
	cfg := testConfig(dir, kc.Addr)
	next := make([]int, files)
	for f := range files {
		testlines.Append(t, logPath(dir, f), f, 0, 1000)
		next[f] = 1000
	}
	check := checkOffsets(t, cfg.Registry.Path, dir, files, gate)
	a := start(t, cfg)
	stopWriting := make(chan struct{})
	var w sync.WaitGroup
	w.Go(func() { writeSteadily(t, dir, files, next, stopWriting) })
	time.Sleep(time.Second)
	kc = fault()
	time.Sleep(time.Second)
	close(stopWriting)
	w.Wait()
	total := 0
	for _, n := range next {
		total += n
	}
	seen := testlines.NewSeen()
	consume(t, kafkatest.NewConsumer(t, kc.Addr, "logs"), seen, total, 2*time.Minute)
	a.stop(t)
	check.finish()
	// Caught up: a registry that never moved would pass the check above.
	offs := testlines.RegistryOffsets(t, cfg.Registry.Path)
	for f, n := range next {
		if want := int64(n) * testlines.LineLen; offs[logPath(dir, f)] != want {
			t.Fatalf("file %d: registry at %d after a clean stop, want %d", f, offs[logPath(dir, f)], want)
		}
	}
	if seen.Bad != 0 {
		t.Fatalf("%d malformed records", seen.Bad)
	}
	t.Logf("%d lines, %d duplicates", total, seen.Dups)
}

// Produce requests fail for 10 s: nothing is lost, nothing is committed
// for a line the broker did not take.
func TestProduceErrorsFor10s(t *testing.T) {
	kc := kafkatest.Start(t)
	gate := kc.Gate(nil)
	faultRun(t, kc, gate, func() *kafkatest.Cluster {
		gate.Fail(kerr.NotLeaderForPartition)
		time.Sleep(10 * time.Second) // the fault's length
		gate.Fail(nil)
		if gate.Rejected() == 0 {
			t.Fatal("no produce request was failed")
		}
		return kc
	})
}

// The broker's listener is gone for 10 s (the broker is closed and started
// again on the same port and data): every line arrives afterwards.
func TestBrokerGoneFor10s(t *testing.T) {
	data := t.TempDir()
	kc := kafkatest.StartOn(t, 0, kfake.DataDir(data))
	port := kc.Port() // the restarted broker listens here again
	gate := kafkatest.NewGate(nil)
	gate.Install(kc)
	faultRun(t, kc, gate, func() *kafkatest.Cluster {
		kc.Close()
		time.Sleep(10 * time.Second) // the outage's length
		kc := kafkatest.StartOn(t, port, kfake.DataDir(data))
		gate.Install(kc)
		return kc
	})
}

// A corrupt registry stops the agent at start with an error naming it.
func TestCorruptRegistryRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, "127.0.0.1:1")
	writeFile(t, cfg.Registry.Path, `{"version":1,"files":[{"id":`)
	err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), Options{})
	if err == nil || !strings.Contains(err.Error(), cfg.Registry.Path) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v", err)
	}
}

// A line far over max_bytes arrives cut and flagged, and the lines around
// it arrive whole: nothing is dropped.
func TestOverlongLineTruncatedNotLost(t *testing.T) {
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	cfg := testConfig(dir, kc.Addr)
	cfg.Output.Kafka.Codec = config.CodecJSON
	cfg.Inputs[0].MaxBytes = 1024
	long := strings.Repeat("L", 3<<20)
	writeFile(t, logPath(dir, 0), "before\n"+long+"\nafter\n")
	a := start(t, cfg)
	type ev struct {
		Message string `json:"message"`
		Log     struct {
			Offset int64    `json:"offset"`
			Flags  []string `json:"flags"`
		} `json:"log"`
	}
	var got []ev
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	c.Until(t.Context(), 30*time.Second, func(r *kgo.Record) {
		var e ev
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Errorf("not JSON: %v", err)
		}
		got = append(got, e)
	}, func() bool { return len(got) >= 3 })
	a.stop(t)
	slices.SortFunc(got, func(a, b ev) int { return int(a.Log.Offset - b.Log.Offset) })
	if len(got) != 3 || got[0].Message != "before" || got[2].Message != "after" {
		t.Fatalf("events: %+v", got)
	}
	if got[1].Message != long[:1024] || !slices.Equal(got[1].Log.Flags, []string{"truncated"}) || got[2].Log.Offset != int64(len("before\n")+len(long)+1) {
		t.Fatalf("long line: %d bytes, flags %v; next offset %d", len(got[1].Message), got[1].Log.Flags, got[2].Log.Offset)
	}
	if offs := testlines.RegistryOffsets(t, cfg.Registry.Path); offs[logPath(dir, 0)] != int64(7+len(long)+1+6) {
		t.Fatalf("registry offset %d", offs[logPath(dir, 0)])
	}
}

func TestWarnsWithoutCertificateVerification(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, "127.0.0.1:1")
	cfg.Output.Kafka.TLS = config.TLS{Enabled: true, VerificationMode: "none"}
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), Options{}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "logship started") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "verification_mode is none") {
		t.Fatalf("no warning:\n%s", logs.String())
	}
}
