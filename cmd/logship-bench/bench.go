package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// bench is one measurement's work directory, broker and agent.
type bench struct {
	o       opts
	dir     string
	port    int
	addr    string
	cluster *kfake.Cluster
}

func newBench(o opts) (*bench, error) {
	dir, err := os.MkdirTemp("", "logship-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, dir: dir}
	if err := os.MkdirAll(b.logs(), 0o755); err != nil {
		return nil, err
	}
	if o.agent == "logship" && o.bin == "" {
		b.o.bin = filepath.Join(dir, "logship")
		build := exec.Command("go", "build", "-o", b.o.bin, "./cmd/logship")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	if b.port, err = freePort(); err != nil {
		return nil, err
	}
	b.addr = "127.0.0.1:" + strconv.Itoa(b.port)
	return b, nil
}

func (b *bench) logs() string { return filepath.Join(b.dir, "logs") }

func (b *bench) close() {
	if b.cluster != nil {
		b.cluster.Close()
	}
	if !b.o.keep {
		os.RemoveAll(b.dir)
	} else {
		fmt.Fprintln(os.Stderr, "work directory kept:", b.dir)
	}
}

// startBroker starts the broker on the bench's port. keep stores the
// records (to consume them); otherwise they are acknowledged and dropped,
// and only the offsets count, so the broker's memory stays small.
func (b *bench) startBroker(keep bool) error {
	o := []kfake.Opt{kfake.Ports(b.port), kfake.SeedTopics(3, "logs")}
	// exactly_once reads its positions back from the offsets topic at
	// start: the broker must keep records. Its transaction markers take
	// an offset each, so delivered counts them too (the wait ends about
	// one transaction early, a fraction of a per mille of a run).
	if strings.Contains(b.o.output, "exactly_once") {
		keep = true
		o = append(o, kfake.AllowAutoTopicCreation())
	}
	if !keep {
		o = append(o, kfake.BlackholeProduce())
	}
	c, err := kfake.NewCluster(o...)
	if err != nil {
		return err
	}
	b.cluster = c
	return nil
}

// delivered is how many records the topic holds.
func (b *bench) delivered() int64 {
	var n int64
	for _, p := range b.cluster.PartitionInfos("logs") {
		n += p.HighWatermark
	}
	return n
}

// waitDelivered waits until n records are in the topic.
func (b *bench) waitDelivered(a *agent, n int, limit time.Duration) error {
	start := time.Now()
	for b.delivered() < int64(n) {
		if a.exited() {
			return fmt.Errorf("%s exited before every line arrived (%d of %d)", b.o.agent, b.delivered(), n)
		}
		if time.Since(start) > limit {
			return fmt.Errorf("%d of %d lines arrived within %s", b.delivered(), n, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// agent is the shipper's process.
type agent struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startAgent writes the shipper's configuration and starts it.
func (b *bench) startAgent() (*agent, error) {
	var cmd *exec.Cmd
	switch b.o.agent {
	case "logship":
		cfg := filepath.Join(b.dir, "agent.yml")
		if err := os.WriteFile(cfg, []byte(b.logshipConfig()), 0o644); err != nil {
			return nil, err
		}
		args := []string{"-c", cfg}
		if b.o.cpuprofile != "" {
			args = append(args, "--cpuprofile", b.o.cpuprofile)
		}
		if b.o.memprofile != "" {
			args = append(args, "--memprofile", b.o.memprofile)
		}
		cmd = exec.Command(b.o.bin, args...)
	case "rsyslog":
		path, err := exec.LookPath("rsyslogd")
		if err != nil {
			return nil, errors.New("rsyslogd not found: bench/peers.sh installs rsyslog and rsyslog-kafka")
		}
		cfg := filepath.Join(b.dir, "rsyslog.conf")
		if err := os.MkdirAll(filepath.Join(b.dir, "rsyslog"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(cfg, []byte(b.rsyslogConfig()), 0o644); err != nil {
			return nil, err
		}
		cmd = exec.Command(path, "-n", "-f", cfg, "-i", filepath.Join(b.dir, "rsyslog.pid"))
	case "floor":
		bin := filepath.Join(b.dir, "floor")
		build := exec.Command("go", "build", "-o", bin, "./bench/floor")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		cmd = exec.Command(bin, "-addr", b.addr, "-glob", filepath.Join(b.logs(), "*.log"), "--cpuprofile", b.o.cpuprofile)
	}
	cmd.Stderr = os.Stderr
	cmd.Stdout = os.Stderr
	if b.o.env != "" {
		cmd.Env = append(os.Environ(), strings.Fields(b.o.env)...)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &agent{cmd: cmd, done: make(chan struct{})}
	go func() {
		a.err = cmd.Wait()
		close(a.done)
	}()
	return a, nil
}

func (a *agent) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stop ends the agent with SIGTERM and returns its resource use.
func (a *agent) stop() (usage, error) {
	if !a.exited() {
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return usage{}, err
		}
	}
	select {
	case <-a.done:
	case <-time.After(time.Minute):
		_ = a.cmd.Process.Kill()
		<-a.done
		return usage{}, errors.New("agent did not stop within a minute of SIGTERM")
	}
	if a.err != nil {
		return usage{}, fmt.Errorf("agent: %w", a.err)
	}
	ru := a.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return usage{
		user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano()),
		peakRSS: ru.Maxrss * 1024,
	}, nil
}

// usage is a process's CPU time and peak resident memory.
type usage struct {
	user, sys time.Duration
	peakRSS   int64 // bytes
}

func (u usage) cpu() time.Duration { return u.user + u.sys }

// now is the running agent's CPU time so far, its resident memory and its
// open file descriptors, from /proc.
func (a *agent) now() (cpu time.Duration, rss int64, fds int, err error) {
	pid := strconv.Itoa(a.cmd.Process.Pid)
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(f) < 22 {
		return 0, 0, 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	const hz = 100 // USER_HZ on Linux
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	cpu = time.Duration(ut+st) * time.Second / hz
	rss = pages * int64(os.Getpagesize())
	ents, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return 0, 0, 0, err
	}
	return cpu, rss, len(ents), nil
}

func (b *bench) logshipConfig() string {
	input := strings.ReplaceAll(b.o.input, "\n", "\n    ")
	output := strings.ReplaceAll(b.o.output, "\n", "\n    ")
	return fmt.Sprintf(`inputs:
  - paths: ["%[1]s/*.log"]
    %[4]s
registry: {path: "%[5]s/registry.json"}
output:
  kafka:
    hosts: ["%[2]s"]
    topic: logs
    codec: %[3]s
    %[7]s
logging: {level: warn}
%[6]s
`, b.logs(), b.addr, b.o.codec, input, b.dir, b.o.extra, output)
}

// rsyslogConfig is rsyslog's imfile and omkafka shipping every line, as
// is, to the same topic with acks from all replicas: what logship does
// with codec raw. imfile's addMetadata is off: on (its default with a
// wildcard) it costs about twice the CPU, and logship's raw codec ships no
// metadata either.
func (b *bench) rsyslogConfig() string {
	return fmt.Sprintf(`global(workDirectory="%[1]s/rsyslog" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="line" type="string" string="%%msg%%")
input(type="imfile" File="%[2]s/*.log" Tag="bench" addMetadata="off" freshStartTail="off" ruleset="kafka")
ruleset(name="kafka") {
  action(type="omkafka" broker=["%[3]s"] topic="logs" template="line" partitions.auto="on"
         confParam=["request.required.acks=-1"])
}
`, b.dir, b.logs(), b.addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
