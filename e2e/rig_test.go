package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// rig runs the binary on one input against an in-process broker and counts
// what arrives. The input is given as YAML keys (paths and options).
type rig struct {
	t        *testing.T
	kc       *kafkatest.Cluster
	dir      string
	logs     string
	cfg      string
	a        *agent
	runs     int
	consumer *kafkatest.Consumer
	seen     *testlines.Seen
	base     [2]int // fds, goroutines
}

const rigConfig = `
inputs:
  - scan_frequency: 200ms
    close_inactive: 1s
%s
registry: {path: "%s/data/registry.json", flush_interval: 100ms}
queue: {max_events: 4096, max_bytes: 2MiB}
output:
  kafka:
    hosts: ["%s"]
    topic: logs
    codec: raw
%s
shutdown_timeout: 10s
logging: {level: debug, metrics: {period: 100ms}}
`

func newRig(t *testing.T, input string) *rig {
	t.Helper()
	// One partition: sarama starts goroutines per partition as it first
	// uses one, so with several the goroutine baseline would depend on
	// which partitions the first lines happened to go to.
	return newRigWith(t, kafkatest.Start(t, kfake.DefaultNumPartitions(1)), input, "")
}

// newRigWith runs against kc with extra output.kafka keys.
func newRigWith(t *testing.T, kc *kafkatest.Cluster, input, output string) *rig {
	t.Helper()
	r := &rig{t: t, kc: kc, dir: t.TempDir(), seen: testlines.NewSeen()}
	r.logs = filepath.Join(r.dir, "logs")
	if err := os.MkdirAll(r.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	input = regexp.MustCompile(`(?m)^`).ReplaceAllString(fmt.Sprintf(input, r.logs), "    ")
	r.cfg = filepath.Join(r.dir, "agent.yml")
	output = regexp.MustCompile(`(?m)^`).ReplaceAllString(output, "    ")
	if err := os.WriteFile(r.cfg, fmt.Appendf(nil, rigConfig, input, r.dir, r.kc.Addr, output), 0o644); err != nil {
		t.Fatal(err)
	}
	r.consumer = kafkatest.NewConsumer(t, r.kc.Addr, "logs")
	return r
}

func (r *rig) path(name string) string { return filepath.Join(r.logs, name) }

func (r *rig) start() {
	r.t.Helper()
	r.a = startAgent(r.t, r.cfg, r.runs)
	r.runs++
	r.waitFor("the agent's first progress line", func() bool { _, ok := r.progress(); return ok })
}

func (r *rig) stop() {
	r.t.Helper()
	r.a.term(r.t)
	r.a = nil
}

// stopCaughtUp stops the agent and checks that it caught up: its last log
// line says nothing was left unacknowledged, and the registry has each of
// paths at its size (a registry that never moved fails here).
func (r *rig) stopCaughtUp(paths ...string) {
	r.t.Helper()
	run := r.runs - 1
	r.stop()
	log, err := os.ReadFile(filepath.Join(r.dir, fmt.Sprintf("agent-%d.log", run)))
	if err != nil {
		r.t.Fatal(err)
	}
	last := stoppedLine.FindString(string(log))
	if !strings.Contains(last, " unacknowledged=0 ") {
		r.t.Fatalf("the agent stopped with events unacknowledged: %q", last)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			r.t.Fatal(err)
		}
		off, _ := testlines.RegistryOffsetOf(r.t, filepath.Join(r.dir, "data", "registry.json"), p)
		if off != fi.Size() {
			r.t.Fatalf("%s: registry at %d after a clean stop, file size %d", p, off, fi.Size())
		}
	}
}

var stoppedLine = regexp.MustCompile(`.*msg="logship stopped".*`)

// progress returns the last progress line's goroutines and open_files.
func (r *rig) progress() ([2]int, bool) {
	data, err := os.ReadFile(r.a.log.Name())
	if err != nil {
		return [2]int{}, false
	}
	m := progressLine.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return [2]int{}, false
	}
	last := m[len(m)-1]
	g, _ := strconv.Atoi(string(last[2]))
	o, _ := strconv.Atoi(string(last[1]))
	return [2]int{g, o}, true
}

var progressLine = regexp.MustCompile(`msg=progress .*open_files=(\d+) .*goroutines=(\d+)`)

// rss is the agent's resident memory in bytes (VmRSS).
func (r *rig) rss() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	m := vmRSS.FindSubmatch(data)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

var vmRSS = regexp.MustCompile(`VmRSS:\s+(\d+) kB`)

func (r *rig) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.a.cmd.Process.Pid))
	if err != nil {
		r.t.Fatal(err)
	}
	return len(ents)
}

// baseline records the agent's fds and goroutines, from a progress line
// written after the work before it settled.
func (r *rig) baseline() {
	r.t.Helper()
	r.freshProgress()
	p, _ := r.progress()
	r.base = [2]int{r.fds(), p[0]}
}

// freshProgress waits for two more progress lines: the last one is written
// after this call.
func (r *rig) freshProgress() {
	r.t.Helper()
	count := func() int {
		data, _ := os.ReadFile(r.a.log.Name())
		return len(progressLine.FindAllIndex(data, -1))
	}
	n := count()
	r.waitFor("a fresh progress line", func() bool { return count() >= n+2 })
}

// settle waits until open files are down to n, then takes the baseline.
func (r *rig) settle(n int) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%d open files", n), func() bool { p, _ := r.progress(); return p[1] == n })
	r.baseline()
}

// backToBaseline waits until fds and goroutines are down to the baseline.
func (r *rig) backToBaseline() {
	r.t.Helper()
	var fds, g int
	ok := r.poll(20*time.Second, func() bool {
		p, _ := r.progress()
		fds, g = r.fds(), p[0]
		return fds <= r.base[0] && g <= r.base[1]
	})
	if !ok {
		r.t.Fatalf("fds %d (baseline %d), goroutines %d (baseline %d); the agent's goroutines:\n%s", fds, r.base[0], g, r.base[1], r.goroutines())
	}
}

// goroutines stops the agent with SIGQUIT, which makes the Go runtime
// print every goroutine's stack, and returns how many goroutines start
// with each function, for a failure's message.
func (r *rig) goroutines() string {
	a := r.a
	if a == nil || a.cmd.Process.Signal(syscall.SIGQUIT) != nil {
		return "(no agent running)"
	}
	<-a.done
	a.done <- nil
	r.a = nil
	data, _ := os.ReadFile(a.log.Name())
	count := map[string]int{}
	for _, stack := range strings.Split(string(data), "\n\ngoroutine ")[1:] {
		// The first frame outside the runtime names the goroutine's job.
		fn := "runtime"
		for _, l := range strings.Split(stack, "\n")[1:] {
			if l != "" && !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "runtime.") && !strings.HasPrefix(l, "created by") {
				fn = l
				if i := strings.LastIndex(fn, "("); i > 0 {
					fn = fn[:i]
				}
				break
			}
		}
		count[fn]++
	}
	var out []string
	for fn, n := range count {
		out = append(out, fmt.Sprintf("%4d %s", n, fn))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func (r *rig) poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	if !r.poll(30*time.Second, cond) {
		r.t.Fatalf("timed out waiting for %s", what)
	}
}

// consume waits until n distinct lines arrived.
func (r *rig) consume(n int) {
	r.t.Helper()
	consumeUntil(r.t, r.consumer, r.seen, n, 90*time.Second)
}

// consumeUntil polls c into seen until n distinct lines arrived, and fails
// t if they do not within timeout.
func consumeUntil(t *testing.T, c *kafkatest.Consumer, seen *testlines.Seen, n int, timeout time.Duration) {
	t.Helper()
	if !c.Until(t.Context(), timeout, func(rec *kgo.Record) { seen.Add(string(rec.Value)) }, func() bool { return seen.Distinct() >= n }) {
		t.Fatalf("%d of %d lines arrived", seen.Distinct(), n)
	}
}

// begin writes n lines of stream s to name, starts the agent, waits for the
// lines and takes the baseline.
func (r *rig) begin(name string, s, n int) string {
	r.t.Helper()
	path := r.path(name)
	testlines.Append(r.t, path, s, 0, n)
	r.start()
	r.consume(n)
	r.baseline()
	return path
}

// drain adds what arrives within one more poll: late duplicates show here.
func (r *rig) drain() {
	for _, rec := range r.consumer.Poll(r.t.Context(), 500*time.Millisecond) {
		r.seen.Add(string(rec.Value))
	}
}

// exactlyOnce waits for the lines [0, n) of streams, then checks that
// nothing else and nothing twice arrived.
func (r *rig) exactlyOnce(streams, n int) {
	r.t.Helper()
	r.consume(streams * n)
	r.drain()
	if miss := r.seen.Missing(streams, n); len(miss) > 0 || r.seen.Distinct() != streams*n || r.seen.Dups != 0 || r.seen.Bad != 0 {
		r.t.Fatalf("%d distinct of %d, %d duplicates, %d malformed; missing e.g. %v", r.seen.Distinct(), streams*n, r.seen.Dups, r.seen.Bad, miss)
	}
}
