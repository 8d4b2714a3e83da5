package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
)

const podsConfig = `
inputs:
  - type: container
    paths: ["%[1]s/pods/*/*/*.log"]
    scan_frequency: 200ms
    close_inactive: 2s
  - paths: ["%[1]s/app/*.log"]
    scan_frequency: 200ms
    multiline: {pattern: '^BEGIN', negate: true, match: after, timeout: 1h}
registry: {path: "%[2]s/data/registry.json", flush_interval: 100ms}
output:
  kafka:
    hosts: ["%[3]s"]
    topic: logs
    codec: json
shutdown_timeout: 10s
logging: {level: debug, metrics: {period: 100ms}}
`

type podContainer struct{ ns, pod, uid, name string }

func (c podContainer) dir(logs string) string {
	return filepath.Join(logs, "pods", c.ns+"_"+c.pod+"_"+c.uid, c.name)
}

// podEvent is what the consumer checks of each record.
type podEvent struct {
	Timestamp  string `json:"@timestamp"`
	Message    string `json:"message"`
	Stream     string `json:"stream"`
	Kubernetes struct {
		Namespace string `json:"namespace"`
		Pod       struct{ Name, UID string }
		Container struct{ Name string }
	} `json:"kubernetes"`
	Input struct{ Type string } `json:"input"`
	Log   struct {
		Flags []string `json:"flags"`
	} `json:"log"`
}

// A /var/log/pods tree written as kubelet and a CRI runtime do: lines split
// at 16 KiB into partial lines, stderr interleaved with stdout, files
// rotated by rename and the older rotated file gzipped, and the agent
// restarted while a partial line and a multiline event are pending. Every
// event arrives once, reassembled, with its stream, time and pod fields.
func TestPodsTree(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t, kfake.DefaultNumPartitions(1))
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	cfg := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, podsConfig, logs, dir, kc.Addr), 0o644); err != nil {
		t.Fatal(err)
	}
	containers := []podContainer{
		{"shop", "cart-1", "uid-aaa", "cart"},
		{"shop", "cart-1", "uid-aaa", "istio-proxy"},
		{"web", "web-0", "uid-bbb", "nginx"},
	}
	for _, c := range containers {
		if err := os.MkdirAll(c.dir(logs), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	appDir := filepath.Join(logs, "app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	appLog := filepath.Join(appDir, "app.log")

	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	want := map[string]podEvent{} // message → expected fields
	msg := func(c podContainer, seq int) string {
		m := fmt.Sprintf("%s/%s seq=%04d", c.pod, c.name, seq)
		if seq%10 == 7 { // longer than kubelet's 16 KiB: split in parts
			m += " " + strings.Repeat(string(rune('a'+seq%26)), 40000)
		}
		return m
	}
	cri := func(seq int, stream, tag, text string) string {
		return fmt.Sprintf("%s %s %s %s\n", base.Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano), stream, tag, text)
	}
	// lines returns the CRI lines of one message, split at 16 KiB.
	lines := func(seq int, stream, m string) []string {
		var out []string
		for len(m) > 16384 {
			out = append(out, cri(seq, stream, "P", m[:16384]))
			m = m[16384:]
		}
		return append(out, cri(seq, stream, "F", m))
	}
	expect := func(c podContainer, seq int, stream string) {
		var e podEvent
		e.Message, e.Stream = msg(c, seq), stream
		e.Timestamp = base.Add(time.Duration(seq) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		e.Kubernetes.Namespace, e.Kubernetes.Pod.Name, e.Kubernetes.Pod.UID, e.Kubernetes.Container.Name = c.ns, c.pod, c.uid, c.name
		want[e.Message] = e
	}
	appendTo := func(path string, parts ...string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(strings.Join(parts, "")); err != nil {
			t.Fatal(err)
		}
	}
	// write writes messages [from, to) of every container; each fifth is on
	// stderr, its parts around the next stdout line.
	write := func(from, to int) {
		for _, c := range containers {
			path := filepath.Join(c.dir(logs), "0.log")
			for seq := from; seq < to; seq++ {
				if seq%5 == 3 && seq+1 < to {
					errLines := lines(seq, "stderr", msg(c, seq))
					first, rest := errLines[0], errLines[1:]
					if len(rest) == 0 { // a short stderr line: split it by hand
						m := msg(c, seq)
						first, rest = cri(seq, "stderr", "P", m[:5]), []string{cri(seq, "stderr", "F", m[5:])}
					}
					appendTo(path, first)
					appendTo(path, lines(seq+1, "stdout", msg(c, seq+1))...)
					appendTo(path, rest...)
					expect(c, seq, "stderr")
					expect(c, seq+1, "stdout")
					seq++
					continue
				}
				appendTo(path, lines(seq, "stdout", msg(c, seq))...)
				expect(c, seq, "stdout")
			}
		}
	}
	rotate := func(stamp string, gzipOlder string) {
		for _, c := range containers {
			live := filepath.Join(c.dir(logs), "0.log")
			if err := os.Rename(live, live+"."+stamp); err != nil {
				t.Fatal(err)
			}
			if gzipOlder == "" {
				continue
			}
			old := live + "." + gzipOlder
			data, err := os.ReadFile(old)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(old + ".gz")
			if err != nil {
				t.Fatal(err)
			}
			zw := gzip.NewWriter(f)
			zw.Write(data)
			zw.Close()
			f.Close()
			if err := os.Remove(old); err != nil {
				t.Fatal(err)
			}
		}
	}

	write(0, 100)
	appendTo(appLog, "BEGIN app-1\n  detail 1\n")
	a := startAgent(t, cfg, 0)
	consumer := kafkatest.NewConsumer(t, kc.Addr, "logs")
	got := map[string]int{}
	records := map[string]podEvent{}
	take := func(r *kgo.Record) {
		var e podEvent
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("record %.100q: %v", r.Value, err)
		}
		got[e.Message]++
		records[e.Message] = e
	}
	// The first lines arrive before the files are rotated: a file rotated
	// before the agent's first start would be history (see README).
	if !consumer.Until(t.Context(), 60*time.Second, take, func() bool { return len(got) >= len(want) }) {
		t.Fatalf("first lines: %d of %d events", len(got), len(want))
	}
	write(100, 150)
	rotate("20261121-120100", "")
	write(150, 200)

	// Stop while a runtime's partial line and a multiline event pend.
	cart := containers[0]
	pending := cart.name + " pending " + strings.Repeat("p", 20000)
	cartLog := filepath.Join(cart.dir(logs), "0.log")
	appendTo(cartLog, cri(5000, "stdout", "P", pending[:16384]))
	appendTo(appLog, "BEGIN app-2\n  detail 2a\n")
	// Wait until the agent has shipped what precedes the pending parts.
	if !consumer.Until(t.Context(), 60*time.Second, take, func() bool { return len(got) >= len(want)+1 }) {
		var missing []string
		for m := range want {
			if got[m] == 0 {
				missing = append(missing, m[:min(30, len(m))])
			}
		}
		slices.Sort(missing)
		t.Fatalf("before the restart: %d of %d events; missing %d, first %q", len(got), len(want)+1, len(missing), missing[:min(10, len(missing))])
	}
	a.term(t)
	appendTo(cartLog, cri(5000, "stdout", "F", pending[16384:]))
	appendTo(appLog, "  detail 2b\nBEGIN app-3\n")
	a = startAgent(t, cfg, 1)
	write(200, 250)
	rotate("20261121-120200", "20261121-120100")
	write(250, 300)
	appendTo(appLog, "BEGIN last, pending until timeout\n")

	wantApp := map[string]bool{"BEGIN app-1\n  detail 1": true, "BEGIN app-2\n  detail 2a\n  detail 2b": true, "BEGIN app-3": true}
	total := len(want) + 1 + len(wantApp) // + the pending cart line
	if !consumer.Until(t.Context(), 90*time.Second, take, func() bool { return len(got) >= total }) {
		t.Fatalf("%d of %d events arrived", len(got), total)
	}
	for _, r := range consumer.Poll(t.Context(), 500*time.Millisecond) {
		take(r)
	}
	a.term(t)

	for m, w := range want {
		e, n := records[m], got[m]
		if n != 1 {
			t.Errorf("%.40q arrived %d times", m, n)
			continue
		}
		if e.Stream != w.Stream || e.Timestamp != w.Timestamp || e.Kubernetes != w.Kubernetes || e.Input.Type != "container" {
			t.Errorf("%.40q: got %+v, want %+v", m, e, w)
		}
	}
	if got[pending] != 1 {
		t.Errorf("the line pending across the restart arrived %d times", got[pending])
	}
	for m := range wantApp {
		if got[m] != 1 {
			t.Errorf("app event %q arrived %d times", m, got[m])
		}
	}
	if len(got) != total {
		for m := range got {
			if _, ok := want[m]; !ok && !wantApp[m] && m != pending {
				t.Errorf("unexpected event %.80q", m)
			}
		}
	}
}
