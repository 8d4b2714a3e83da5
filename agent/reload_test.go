package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
	"github.com/logship/logship/internal/testlog"
)

// reloadConfig is configuration variant i: inputs added, removed and
// changed, and output and queue settings changed, from one to the next.
func reloadConfig(dir, broker, listen string, i int) string {
	a, b := filepath.Join(dir, "logs", "a", "*.log"), filepath.Join(dir, "logs", "b", "*.log")
	var inputs string
	switch i % 3 {
	case 0: // two inputs
		inputs = fmt.Sprintf("  - {id: a, paths: [%q], scan_frequency: 100ms}\n  - {id: b, paths: [%q], scan_frequency: 100ms}\n", a, b)
	case 1: // one input for both, changed
		inputs = fmt.Sprintf("  - {id: ab, paths: [%q, %q], scan_frequency: 150ms, close_inactive: 30s, fields: {v: %d}}\n", a, b, i)
	case 2: // b removed: its lines wait for a later configuration
		inputs = fmt.Sprintf("  - {id: a, paths: [%q], scan_frequency: 100ms, max_bytes: 4KiB}\n", a)
	}
	compression := []string{"none", "gzip", "lz4", "snappy"}[i%4]
	return fmt.Sprintf(`inputs:
%sregistry: {path: %q, flush_interval: 100ms}
queue: {max_events: %d, batch_events: %d, flush_interval: %dms}
output:
  kafka:
    hosts: [%q]
    topic: logs
    codec: raw
    compression: %s
    max_in_flight: %d
    bulk_flush_frequency: %dms
http: {enabled: true, listen: %q}
logging: {level: warn}
`, inputs, filepath.Join(dir, "registry.json"), 2048+i*512, 256+i*64, 50+i*10, broker, compression, 1+i%5, 5+i%3*10, listen)
}

// While lines with sequence numbers are written, the configuration is
// reloaded ten times (POST /reload and SIGHUP in turn), inputs and output
// settings changing each time, with an invalid file refused in between:
// every line arrives, none twice.
func TestReloadTenTimes(t *testing.T) {
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	const listenAny = "127.0.0.1:0" // the endpoint stays across reloads; see httpAddr
	cfgPath := filepath.Join(dir, "agent.yml")
	writeCfg := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(reloadConfig(dir, kc.Addr, listenAny, 0))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &testlog.Buffer{}
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Options{Load: func() (config.Config, error) { return config.Load(cfgPath) }, Reload: hup})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	listen := httpAddr(t, logs, "http.listen")
	waitHTTP(t, listen)

	// Two writers, 50 lines every 10 ms each, until stopped.
	const perFile = 6000
	var wg sync.WaitGroup
	for f, sub := range []string{"a", "b"} {
		wg.Go(func() {
			path := filepath.Join(dir, "logs", sub, "app.log")
			for seq := 0; seq < perFile; seq += 50 {
				testlines.Append(t, path, f, seq, seq+50)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	post := func() (int, string) {
		resp, err := http.Post("http://"+listen+"/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fscan(resp.Body, &b)
		return resp.StatusCode, b.String()
	}
	for i := 1; i <= 10; i++ {
		time.Sleep(80 * time.Millisecond) // lines flow between reloads
		if i == 5 {
			writeCfg("inputs: [{paths: []}]\nqueue: {max_events: -1}\n")
			if code, _ := post(); code != http.StatusUnprocessableEntity {
				t.Fatalf("an invalid configuration was not refused: %d", code)
			}
		}
		last := i
		if i == 10 {
			last = 9 // ends with both inputs (9 % 3 == 0)
		}
		writeCfg(reloadConfig(dir, kc.Addr, listenAny, last))
		if i%2 == 0 {
			if code, body := post(); code != http.StatusOK {
				t.Fatalf("reload %d: %d %s", i, code, body)
			}
		} else {
			hup <- struct{}{}
		}
	}
	wg.Wait()
	seen := testlines.NewSeen()
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	if !c.Until(t.Context(), 60*time.Second, func(r *kgo.Record) { seen.Add(string(r.Value)) }, func() bool { return seen.Distinct() >= 2*perFile }) {
		t.Fatalf("%d of %d lines arrived; missing e.g. %v", seen.Distinct(), 2*perFile, seen.Missing(2, perFile))
	}
	for _, r := range c.Poll(t.Context(), 500*time.Millisecond) {
		seen.Add(string(r.Value))
	}
	if seen.Dups != 0 || seen.Bad != 0 || seen.Distinct() != 2*perFile {
		var dups [2][]int
		for k, n := range seen.Count {
			if n > 1 {
				dups[k[0]] = append(dups[k[0]], k[1])
			}
		}
		for f := range dups {
			slices.Sort(dups[f])
		}
		t.Fatalf("%d distinct, %d duplicates, %d malformed; duplicated seqs of a: %d (from %v), of b: %d (from %v)",
			seen.Distinct(), seen.Dups, seen.Bad, len(dups[0]), dups[0][:min(5, len(dups[0]))], len(dups[1]), dups[1][:min(5, len(dups[1]))])
	}
	m := scrape(t, listen)
	if m[`logship_reloads_total{result="ok"}`] != 10 || m[`logship_reloads_total{result="error"}`] != 1 {
		t.Fatalf("reloads ok %v, error %v; want 10 and 1", m[`logship_reloads_total{result="ok"}`], m[`logship_reloads_total{result="error"}`])
	}
	if got := m["logship_events_acked_total"]; got != 2*perFile {
		t.Fatalf("logship_events_acked_total = %v across reloads, want %d", got, 2*perFile)
	}
}

// With http.listen on every address, POST /reload is refused there (403);
// on http.control_listen it needs the token (401 without it) and then
// reloads. A refused request reloads nothing.
func TestReloadEndpointNeedsAuth(t *testing.T) {
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	cfg := testConfig(dir, kc.Addr)
	cfg.HTTP.Enabled = true
	cfg.HTTP.Listen = "0.0.0.0:0" // ports the kernel chooses: see httpAddr
	cfg.HTTP.ControlListen = "127.0.0.1:0"
	cfg.HTTP.ControlToken = "s3cret"
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &testlog.Buffer{}
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Options{Load: func() (config.Config, error) { return cfg, nil }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	public := httpAddr(t, logs, "http.listen")
	control := httpAddr(t, logs, "http.control_listen")
	waitHTTP(t, public)
	post := func(addr, token string) int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/reload", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	reloads := func() string {
		resp, err := http.Get("http://" + public + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		for line := range strings.SplitSeq(b.String(), "\n") {
			if strings.HasPrefix(line, `logship_reloads_total{result="ok"}`) {
				return line
			}
		}
		return "no logship_reloads_total"
	}
	for _, c := range []struct {
		addr, token string
		want        int
	}{
		{public, "", http.StatusForbidden},
		{public, "s3cret", http.StatusForbidden},
		{control, "", http.StatusUnauthorized},
		{control, "wrong", http.StatusUnauthorized},
	} {
		if code := post(c.addr, c.token); code != c.want {
			t.Errorf("POST %s/reload with token %q: %d, want %d", c.addr, c.token, code, c.want)
		}
	}
	if got := reloads(); got != `logship_reloads_total{result="ok"} 0` {
		t.Fatalf("after refused requests: %s", got)
	}
	if code := post(control, "s3cret"); code != http.StatusOK {
		t.Fatalf("POST /reload with the token: %d", code)
	}
	if got := reloads(); got != `logship_reloads_total{result="ok"} 1` {
		t.Fatalf("after the authorised request: %s", got)
	}
}

// httpAddr waits for the agent to log where its HTTP endpoint for key
// (http.listen, http.control_listen) listens, and returns the address to
// dial. The tests listen on port 0: the kernel chooses the port as the
// agent binds it, so no other process can take it in between.
func httpAddr(t *testing.T, logs *testlog.Buffer, key string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="http endpoint listening" key=` + regexp.QuoteMeta(key) + ` addr=(\S+)`)
	var addr string
	until(t, key+"'s address in the agent's log", 30*time.Second, func() bool {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// producers is how many sarama producers run in this process (one
// dispatcher goroutine each).
func producers() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "(*asyncProducer).dispatcher")
}

// Reloads while the broker is gone and events wait in the producer: each
// stop closes the old producer's connections once shutdown_timeout has
// passed, so that its retries end and it lets go of its batches. None is
// left behind, however many reloads (each used to leave one, retrying with
// its batches in memory).
func TestReloadsDuringOutageLeaveNoProducer(t *testing.T) {
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	cfg := testConfig(dir, kc.Addr)
	cfg.ShutdownTimeout = config.Duration(500 * time.Millisecond)
	cfg.HTTP.Enabled, cfg.HTTP.Listen = true, "127.0.0.1:0"
	cfg.Logging.Level = "info"
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	testlines.Append(t, logPath(dir, 0), 0, 0, 100)
	logs := &testlog.Buffer{}
	states := make(chan string, 64)
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), Options{
			Load: func() (config.Config, error) { return cfg, nil }, Reload: reload,
			Notify: func(s string) { states <- s },
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	ready := func() {
		t.Helper()
		for s := range states {
			if s == "READY=1" {
				return
			}
		}
	}
	ready()
	addr := httpAddr(t, logs, "http.listen")
	consume(t, kafkatest.NewConsumer(t, kc.Addr, "logs"), testlines.NewSeen(), 100, time.Minute)

	kc.Close()
	testlines.Append(t, logPath(dir, 0), 0, 100, 2000)
	until(t, "events waiting in the producer", 30*time.Second, func() bool {
		var st struct {
			Inflight int64 `json:"events_inflight"`
		}
		_, body := get(t, addr, "/stats")
		return json.Unmarshal([]byte(body), &st) == nil && st.Inflight > 0
	})
	if n := producers(); n != 1 {
		t.Fatalf("%d producers before the reloads, want 1", n)
	}
	for i := range 3 {
		reload <- struct{}{}
		ready()
		if n := producers(); n != 0 {
			t.Fatalf("after reload %d with the broker gone, %d producers still run", i+1, n)
		}
	}
	if !strings.Contains(logs.String(), "kafka producer still closing after shutdown_timeout; closing its connections") {
		t.Fatal("no producer was closed under: the outage did not hold events in it")
	}
}
