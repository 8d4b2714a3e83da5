package packaging

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
)

// The packaged configuration ships common logs as they are: every line of
// nginx's and apt's logs is one event, and its commented Java example,
// once uncommented, joins each stack trace to the line that starts it.
// Run through the packaged binary into a broker, read back with franz-go.
func TestPackagedConfigSamples(t *testing.T) {
	bin := buildLogship(t)
	kc := kafkatest.Start(t)
	root := t.TempDir()
	samples := map[string]string{
		"nginx-access.log": "var/log/nginx/access.log",
		"nginx-error.log":  "var/log/nginx/error.log",
		"apt-history.log":  "var/log/apt/history.log",
		"apt-term.log":     "var/log/apt/term.log",
		"java-app.log":     "opt/myapp/logs/app.log",
	}
	for src, dst := range samples {
		data, err := os.ReadFile(filepath.Join("testdata/logs", src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, dst)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("agent.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	// The commented example, uncommented as its comment says.
	var out []string
	java := false
	for line := range strings.SplitSeq(cfg, "\n") {
		java = strings.HasPrefix(line, "  #- id: java") || java && strings.HasPrefix(line, "  #  ")
		if java {
			line = "  " + strings.TrimPrefix(line, "  #")
		}
		out = append(out, line)
	}
	cfg = strings.Join(out, "\n")
	if !strings.Contains(cfg, "\n  - id: java\n    paths: [\"/opt/myapp/logs/*.log\"]\n    multiline:") {
		t.Fatalf("the Java example did not uncomment:\n%s", cfg)
	}
	cfg = strings.NewReplacer("/var/log", root+"/var/log", "/opt/myapp", root+"/opt/myapp", "/var/lib/logship", root+"/state",
		"127.0.0.1:5066", "127.0.0.1:0").Replace(cfg) // a port the kernel chooses as the agent binds it
	cfgPath := filepath.Join(root, "agent.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "state"), 0o755)
	cmd := exec.Command(bin, "-c", cfgPath)
	cmd.Env = append(os.Environ(), "KAFKA_BROKER="+kc.Addr)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	}()

	// What each file must become: its lines, or for Java its events.
	want := map[string][]string{}
	for src, dst := range samples {
		data, _ := os.ReadFile(filepath.Join("testdata/logs", src))
		var events []string
		for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
			joined := src == "java-app.log" && len(events) > 0 && (line == "" || line[0] < '0' || line[0] > '9')
			if joined {
				events[len(events)-1] += "\n" + line
			} else {
				events = append(events, line)
			}
		}
		want[filepath.Join(root, dst)] = events
	}
	if n := len(want[filepath.Join(root, "opt/myapp/logs/app.log")]); n != 5 {
		t.Fatalf("the Java sample has %d events, want 5", n)
	}
	total := 0
	for _, ev := range want {
		total += len(ev)
	}
	got := map[string][]string{}
	n := 0
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.Until(ctx, time.Minute, func(r *kgo.Record) {
		var e struct {
			Message string `json:"message"`
			Log     struct {
				Offset int64 `json:"offset"`
				File   struct {
					Path string `json:"path"`
				} `json:"file"`
			} `json:"log"`
		}
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("record %q: %v", r.Value, err)
		}
		got[e.Log.File.Path] = append(got[e.Log.File.Path], fmt.Sprintf("%012d\x00%s", e.Log.Offset, e.Message))
		n++
	}, func() bool { return n >= total })
	// Stopped (it drains): a record sent twice would be in the topic now.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	n += len(c.Poll(ctx, time.Second))
	for path, events := range want {
		g := got[path]
		slices.Sort(g) // partitions interleave: order by offset
		for i := range g {
			_, g[i], _ = strings.Cut(g[i], "\x00")
		}
		if !slices.Equal(g, events) {
			t.Errorf("%s:\n got %d events %q\nwant %d events %q", path, len(g), g, len(events), events)
		}
	}
	if n != total {
		t.Errorf("%d records, want %d", n, total)
	}
}
