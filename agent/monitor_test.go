package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/eventually"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
	"github.com/logship/logship/monitor"
	"github.com/logship/logship/output/kafka"
)

// scrape reads /metrics into "name{labels}" → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func withHTTP(t *testing.T, cfg config.Config) config.Config {
	cfg.HTTP.Enabled = true
	cfg.HTTP.Listen = "127.0.0.1:0" // see httpAddr
	return cfg
}

// waitHTTP waits for the endpoint, which the agent opens at start.
func waitHTTP(t *testing.T, addr string) {
	t.Helper()
	until(t, "the http endpoint on "+addr, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

// After a known load, the counters are exactly that load.
func TestMetricsExact(t *testing.T) {
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	cfg := withHTTP(t, testConfig(dir, kc.Addr))
	app := cfg.Inputs[0]
	app.ID, app.Paths = "app", []string{filepath.Join(dir, "app", "*.log")}
	sys := cfg.Inputs[0]
	sys.Paths = []string{filepath.Join(dir, "sys", "*.log")}
	sys.ExcludeLines = []string{"seq=0000000[0-4] "} // 5 lines read, not shipped
	cfg.Inputs = []config.Input{app, sys}
	testlines.Append(t, filepath.Join(dir, "app", "a.log"), 0, 0, 600)
	testlines.Append(t, filepath.Join(dir, "app", "b.log"), 1, 0, 400)
	testlines.Append(t, filepath.Join(dir, "sys", "c.log"), 2, 0, 500)
	r := start(t, cfg)
	defer r.stop(t)
	addr := httpAddr(t, r.logs, "http.listen")
	waitHTTP(t, addr)

	seen := testlines.NewSeen()
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	if !c.Until(t.Context(), 30*time.Second, func(rec *kgo.Record) { seen.Add(string(rec.Value)) }, func() bool { return seen.Distinct() >= 1495 }) {
		t.Fatalf("%d lines arrived", seen.Distinct())
	}
	var m map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for { // the counters settle once the last batch is committed
		m = scrape(t, addr)
		settled := m["logship_events_acked_total"] == 1495 && m["logship_queue_events"] == 0 && m["logship_registry_files"] == 3
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		`logship_input_lines_read_total{input="app"}`:      1000,
		`logship_input_bytes_read_total{input="app"}`:      1000 * testlines.LineLen,
		`logship_input_lines_read_total{input="1"}`:        500,
		`logship_input_bytes_read_total{input="1"}`:        500 * testlines.LineLen,
		`logship_input_lag_bytes{input="app"}`:             0,
		"logship_events_published_total":                   1495,
		"logship_events_acked_total":                       1495,
		"logship_bytes_acked_total":                        1495 * (testlines.LineLen - 1),
		"logship_events_failed_total":                      0,
		"logship_queue_events":                             0,
		"logship_queue_max_events":                         float64(cfg.Queue.MaxEvents),
		"logship_events_inflight":                          0,
		"logship_kafka_connected":                          1,
		"logship_oldest_unacked_age_seconds":               0,
		`logship_reloads_total{result="ok"}`:               0,
		`logship_input_lines_truncated_total{input="app"}`: 0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if m["logship_registry_write_duration_seconds_count"] < 1 || m["logship_registry_files"] != 3 || m["logship_registry_size_bytes"] <= 0 {
		t.Errorf("registry metrics: writes %v, files %v, size %v", m["logship_registry_write_duration_seconds_count"], m["logship_registry_files"], m["logship_registry_size_bytes"])
	}
	if m["logship_last_delivery_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last delivery %v", m["logship_last_delivery_timestamp_seconds"])
	}
	if m["go_goroutines"] <= 0 || m["process_resident_memory_bytes"] <= 0 {
		t.Error("no Go runtime or process metrics")
	}
	if code, body := get(t, addr, "/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, addr, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q", code, body)
	}
	_, body := get(t, addr, "/stats")
	var st monitor.Snapshot
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/stats: %v\n%s", err, body)
	}
	if st.EventsAcked != 1495 || len(st.Inputs) != 2 || st.Inputs[0].ID != "app" || st.Inputs[0].LinesRead != 1000 {
		t.Errorf("/stats: %s", body)
	}
}

// /readyz fails while the broker is gone and passes again once it is
// back; /healthz passes throughout; nothing is lost.
func TestReadinessFollowsBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the broker probe")
	}
	data := t.TempDir()
	kc := kafkatest.StartOn(t, 0, kfake.DataDir(data))
	port := kc.Port() // the restarted broker listens here again
	dir := t.TempDir()
	cfg := withHTTP(t, testConfig(dir, kc.Addr))
	cfg.Output.Kafka.Retry.MaxBackoff = config.Duration(time.Second)
	path := filepath.Join(dir, "logs", "a.log")
	testlines.Append(t, path, 0, 0, 100)
	r := start(t, cfg)
	defer r.stop(t)
	addr := httpAddr(t, r.logs, "http.listen")
	waitHTTP(t, addr)
	ready := func() bool { code, _ := get(t, addr, "/readyz"); return code == 200 }
	until(t, "ready", 20*time.Second, ready)

	kc.Close()
	testlines.Append(t, path, 0, 100, 200)
	until(t, "not ready while the broker is gone", 30*time.Second, func() bool { return !ready() })
	if code, _ := get(t, addr, "/healthz"); code != 200 {
		t.Fatal("/healthz failed while the broker was gone")
	}
	if m := scrape(t, addr); m["logship_kafka_connected"] != 0 {
		t.Fatalf("logship_kafka_connected = %v with the broker gone", m["logship_kafka_connected"])
	}
	kc = kafkatest.StartOn(t, port, kfake.DataDir(data))
	until(t, "ready again", 60*time.Second, ready)
	seen := testlines.NewSeen()
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	if !c.Until(t.Context(), 60*time.Second, func(rec *kgo.Record) { seen.Add(string(rec.Value)) }, func() bool { return seen.Distinct() >= 200 }) {
		t.Fatalf("%d of 200 lines after the outage", seen.Distinct())
	}
}

func until(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	eventually.Within(t, d, what, cond)
}

// Every counter and gauge with its known label values is exported from
// the start, at 0, with Kafka not even reachable: an alert on
// rate(logship_events_dropped_total[5m]) fires on the first drop.
func TestMetricsFromTheStart(t *testing.T) {
	dir := t.TempDir()
	cfg := withHTTP(t, testConfig(dir, fmt.Sprintf("127.0.0.1:%d", kafkatest.FreePort(t)))) // nothing listens
	second := cfg.Inputs[0]
	second.ID, second.Paths = "app", []string{filepath.Join(dir, "app", "*.log")}
	cfg.Inputs = append(cfg.Inputs, second)
	r := start(t, cfg)
	defer r.stop(t)
	addr := httpAddr(t, r.logs, "http.listen")
	waitHTTP(t, addr)
	m := scrape(t, addr)
	var want []string
	for _, in := range []string{"0", "app"} {
		for _, name := range []string{"input_lines_read_total", "input_bytes_read_total", "input_lines_truncated_total", "input_abandoned_bytes_total", "harvester_panics_total", "input_lag_bytes"} {
			want = append(want, fmt.Sprintf("logship_%s{input=%q}", name, in))
		}
	}
	for _, reason := range kafka.Reasons {
		want = append(want, fmt.Sprintf("logship_events_dropped_total{reason=%q}", reason), fmt.Sprintf("logship_events_dead_lettered_total{reason=%q}", reason))
	}
	want = append(want, "logship_events_published_total", "logship_events_acked_total", "logship_bytes_acked_total", "logship_events_failed_total",
		"logship_events_retried_total", "logship_queue_events", "logship_events_inflight", "logship_open_files", `logship_reloads_total{result="error"}`)
	for _, name := range want {
		if v, ok := m[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v) at the start, want 0", name, v, ok)
		}
	}
}

// A counter or level has one name: the progress line's key and /stats'
// key are the Prometheus metric's name without logship_ (and, in the
// progress line, which shows what changed, without _total).
func TestOneNamePerMetric(t *testing.T) {
	mon := monitor.New("test", time.Minute, 5)
	now := time.Now()
	snap := monitor.Snapshot{
		Inputs:          []monitor.Input{{ID: "a", LinesRead: 1, BytesRead: 1, LinesTruncated: 1, BytesAbandoned: 1, HarvesterPanics: 1}},
		EventsPublished: 1, EventsAcked: 1, BytesAcked: 1, EventsFailed: 1, EventsRetried: 1,
		EventsDropped: map[string]int64{"routing": 1}, DeadLettered: map[string]int64{"routing": 1},
		QueueEvents: 1, QueueBytes: 1, QueueMaxEvents: 1, QueueMaxBytes: 1, BatchesInflight: 1, EventsInflight: 1, OpenFiles: 1,
		OldestUnacked: now, LastDelivery: now, KafkaConnected: true,
		Files: []monitor.File{{Input: "a", Path: "/x", LagBytes: 1}},
	}
	mon.Attach(func() monitor.Snapshot { return snap })
	families, err := mon.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]bool{}
	for _, f := range families {
		metrics[f.GetName()] = true
	}
	rec := httptest.NewRecorder()
	mon.Handler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	var stats map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &stats); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for k, v := range stats {
		switch k {
		case "inputs", "files_behind":
			for k := range v.([]any)[0].(map[string]any) {
				keys[k] = true
			}
		default:
			keys[k] = true
		}
	}
	for k := range keys {
		if k == "id" || k == "input" || k == "path" {
			continue // labels
		}
		if !metrics["logship_"+k] {
			t.Errorf("/stats key %s has no metric logship_%s", k, k)
		}
	}
	p := &progress{}
	attrs := p.attrs(snap)
	for i := 0; i < len(attrs); i += 2 {
		k := attrs[i].(string)
		switch k {
		case "open_files_peak", "goroutines", "last_delivery_timestamp": // the log's own, or a time shown as one
			continue
		}
		if !metrics["logship_"+k] && !metrics["logship_"+k+"_total"] {
			t.Errorf("progress key %s has no metric logship_%s(_total)", k, k)
		}
	}
}
