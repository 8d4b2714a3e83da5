package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// binary is the agent as shipped; raceBinary the same built with -race,
// which the agent runs of the tests are made with unless a test measures
// memory or speed (plainBinary).
var binary, raceBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "logship-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "logship")
	raceBinary = filepath.Join(dir, "logship-race")
	for _, b := range [][]string{{"-o", binary}, {"-race", "-o", raceBinary}} {
		build := exec.Command("go", append(append([]string{"build"}, b...), "../cmd/logship")...)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build logship:", err)
			os.Exit(2)
		}
	}
	// The end-to-end cases spend most of their time waiting (for fault
	// windows, rotations, restarts), each with its own directory, broker
	// and agent: more of them run at once than there are cores. Those that
	// measure the agent's memory run alone (they do not call t.Parallel).
	flag.Parse()
	if !flagSet("test.parallel") {
		_ = flag.Set("test.parallel", "4")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const configTmpl = `
inputs:
  - paths: ["%[1]s/logs/*.log"]
    scan_frequency: 200ms
registry:
  path: %[1]s/data/registry.json
  flush_interval: 100ms
queue:
  max_events: %[3]d
output:
  kafka:
    hosts: ["%[2]s"]
    topic: logs
    codec: raw
shutdown_timeout: 10s
logging: {level: info}
`

const maxEvents = 4096

// flagSet reports whether the flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func writeConfig(t *testing.T, dir, addr string) string {
	t.Helper()
	path := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(path, fmt.Appendf(nil, configTmpl, dir, addr, maxEvents), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type agent struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

var (
	plainMu    sync.Mutex
	plainTests = map[string]bool{}
)

// plainBinary makes t's agents run without the race detector, whose
// memory and CPU would swamp what t measures.
func plainBinary(t *testing.T) {
	plainMu.Lock()
	defer plainMu.Unlock()
	plainTests[t.Name()] = true
}

// agentBinary is the binary t's agents run: raceBinary unless plainBinary.
func agentBinary(t *testing.T) string {
	plainMu.Lock()
	defer plainMu.Unlock()
	if plainTests[t.Name()] {
		return binary
	}
	return raceBinary
}

func startAgent(t *testing.T, cfg string, run int) *agent {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(cfg), "agent-"+strconv.Itoa(run)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(agentBinary(t), "-c", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{cmd: cmd, log: logf, done: make(chan error, 1)}
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-a.done
		logf.Close()
		data, _ := os.ReadFile(logf.Name())
		// A race the detector found in the agent fails the test,
		// whichever way the agent ended (a kill -9 included), and its
		// report is printed last, where a truncated CI log keeps it.
		races := raceReports(data)
		if races != "" {
			defer t.Errorf("agent run %d: the race detector found a data race:\n%s", run, races)
		}
		if t.Failed() || races != "" {
			if dir := os.Getenv("LOGSHIP_E2E_LOGS"); dir != "" { // the whole log, for a failure's study
				name := strings.NewReplacer("/", "_", "=", "_").Replace(t.Name())
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-run%d.log", name, run)), data, 0o644)
			}
			lines := strings.Split(string(data), "\n")
			var keep []string
			for _, l := range lines {
				if !strings.Contains(l, "msg=progress") {
					keep = append(keep, l)
				}
			}
			t.Logf("agent run %d log (without progress lines), last 80 lines:\n%s", run, strings.Join(keep[max(0, len(keep)-80):], "\n"))
		}
	})
	return a
}

// raceReports is every report the race detector wrote to an agent's log.
func raceReports(log []byte) string {
	const start, end = "WARNING: DATA RACE", "=================="
	var out strings.Builder
	for {
		i := bytes.Index(log, []byte(start))
		if i < 0 {
			return out.String()
		}
		log = log[i:]
		j := bytes.Index(log, []byte(end))
		if j < 0 {
			j = len(log)
		}
		out.Write(log[:j])
		out.WriteString("\n")
		log = log[j:]
	}
}

func (a *agent) kill9(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	a.done <- nil // for the cleanup
}

func (a *agent) term(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		a.done <- nil
		// 3: stopped with events unacknowledged (a stop during an
		// outage); they are read again, which the tests check.
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
			err = nil
		}
		if err != nil {
			log, _ := os.ReadFile(a.log.Name())
			t.Fatalf("agent exited with %v after SIGTERM; log:\n%s%s", err, log, raceReports(log))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop after SIGTERM")
	}
}

// checkRegistry fails if the registry on disk covers a line the broker
// never took. It returns the total of the offsets in lines.
func checkRegistry(t *testing.T, dir string, files int, gate *kafkatest.Gate) int {
	t.Helper()
	offs := testlines.RegistryOffsets(t, filepath.Join(dir, "data", "registry.json"))
	total := 0
	for f := range files {
		n := int(offs[logPath(dir, f)] / testlines.LineLen)
		for i := range n {
			if !gate.Written(testlines.Line(f, i)) {
				t.Fatalf("file %d: registry offset covers line %d, which the broker never took", f, i)
			}
		}
		total += n
	}
	return total
}

func logPath(dir string, f int) string {
	return filepath.Join(dir, "logs", "f"+strconv.Itoa(f)+".log")
}

var kill9Seed = flag.Uint64("kill9.seed", 0, "TestKill9AndRestart's random seed (0: from the clock); a failure logs the one it used")

// Ten files of 100,000 lines, written while the agent is killed with
// SIGKILL at five random moments and restarted: every line arrives, the
// registry never covers an unacknowledged line, at least three kills land
// in the middle of the files, and duplicates stay within what a crash can
// repeat: the events in flight (the queue's bound, passed by at most a
// chunk) and the lines acknowledged within one registry flush interval.
func TestKill9AndRestart(t *testing.T) {
	t.Parallel()
	const files, lines, kills = 10, 100_000, 5
	seed := *kill9Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -kill9.seed=%d)", seed, seed)
	kc := kafkatest.Start(t)
	gate := kc.Gate(nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, kc.Addr)
	const upfront = lines * 3 / 10
	for f := range files {
		testlines.Append(t, logPath(dir, f), f, 0, upfront)
	}
	// The rest is written steadily while the agent comes and goes, so that
	// every kill lands while lines are being read and shipped.
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := upfront; i < lines; i += 700 {
			for f := range files {
				testlines.Append(t, logPath(dir, f), f, i, min(i+700, lines))
			}
			time.Sleep(120 * time.Millisecond)
		}
	})
	// The most lines one registry write advanced: what a crash just before
	// the next write can send again.
	var perFlush atomic.Int64
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		last := 0
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(10 * time.Millisecond):
			}
			total := 0
			for _, off := range testlines.RegistryOffsets(t, filepath.Join(dir, "data", "registry.json")) {
				total += int(off / testlines.LineLen)
			}
			if d := total - last; d > 0 && int64(d) > perFlush.Load() {
				perFlush.Store(int64(d))
			}
			last = total
		}
	})
	rng := rand.New(rand.NewPCG(seed, 1))
	midway := 0
	for run := range kills {
		a := startAgent(t, cfg, run)
		time.Sleep(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
		a.kill9(t)
		committed := checkRegistry(t, dir, files, gate)
		offs := testlines.RegistryOffsets(t, filepath.Join(dir, "data", "registry.json"))
		for f := range files {
			fi, err := os.Stat(logPath(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if off := offs[logPath(dir, f)]; off > 0 && off < fi.Size() {
				midway++ // killed with this file part read: mid-flight
				break
			}
		}
		t.Logf("kill %d: registry covers %d lines", run+1, committed)
	}
	if midway < 3 {
		t.Fatalf("only %d of %d kills landed with a file part shipped (seed %d)", midway, kills, seed)
	}
	writer.Wait()
	a := startAgent(t, cfg, kills)
	seen := testlines.NewSeen()
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	if !c.Until(t.Context(), 3*time.Minute, func(r *kgo.Record) { seen.Add(string(r.Value)) }, func() bool { return seen.Distinct() >= files*lines }) {
		t.Fatalf("%d of %d lines arrived; missing e.g. %v (seed %d)", seen.Distinct(), files*lines, seen.Missing(files, lines), seed)
	}
	a.term(t)
	close(stopWatch)
	watch.Wait()
	if got := checkRegistry(t, dir, files, gate); got != files*lines {
		t.Fatalf("registry covers %d lines after a clean stop, want %d", got, files*lines)
	}
	for _, r := range c.Poll(t.Context(), time.Second) {
		seen.Add(string(r.Value))
	}
	const chunk = 512 // a harvester's chunk: the queue's bound is passed by one at most
	bound := kills * (maxEvents + chunk + int(perFlush.Load()))
	t.Logf("%d lines, %d duplicates after %d kills (bound %d: %d in flight and %d per registry write, per kill)",
		files*lines, seen.Dups, kills, bound, maxEvents+chunk, perFlush.Load())
	if seen.Dups > bound || seen.Bad != 0 {
		t.Fatalf("%d duplicates (bound %d), %d malformed (seed %d)", seen.Dups, bound, seen.Bad, seed)
	}
}

func TestStartupErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		config string
		want   string
	}{
		"invalid yaml": {"inputs: [\n", "agent.yml:1: did not find expected node content"},
		"unknown key":  {"inputs:\n  - paths: [a]\n    colour: red\n", "agent.yml:3: inputs[0].colour: unknown key"},
		"no paths":     {"inputs:\n  - type: log\n", "agent.yml:2: inputs[0].paths: must not be empty"},
		"corrupt registry": {
			"inputs:\n  - paths: [" + dir + "/x/*.log]\nregistry: {path: " + dir + "/bad.json}\noutput.kafka.hosts: [\"127.0.0.1:1\"]\n",
			"registry file is corrupt: " + dir + "/bad.json",
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(dir+"/bad.json", []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(t.TempDir(), "agent.yml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(binary, "-c", cfg)
			cmd.Stderr = &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 {
				t.Fatalf("exit code %d, want non-zero", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr does not contain %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "logship ") {
		t.Fatalf("version: %v %q", err, out)
	}
}
