package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

const opsConfig = `
inputs:
%s
registry: {path: "%s/data/registry.json", flush_interval: 100ms}
output: {kafka: {hosts: ["%s"], topic: logs, codec: raw}}
http: {enabled: true, listen: "%s"}
logging: {level: info, metrics: {period: 200ms}}
`

// The binary reloads on SIGHUP: a new input starts shipping, an invalid
// file is refused while the running configuration goes on, and the
// metrics endpoint answers throughout. test config exits 0 or 1.
func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	const listen = "127.0.0.1:0" // the kernel chooses the port as the agent binds it
	cfg := filepath.Join(dir, "agent.yml")
	a, b := filepath.Join(dir, "a", "app.log"), filepath.Join(dir, "b", "app.log")
	input := func(dir string) string {
		return fmt.Sprintf("  - {paths: [%q], scan_frequency: 100ms}", filepath.Join(dir, "*.log"))
	}
	write := func(inputs string) {
		if err := os.WriteFile(cfg, fmt.Appendf(nil, opsConfig, inputs, dir, kc.Addr, listen), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(input(filepath.Dir(a)))
	testlines.Append(t, a, 0, 0, 1000)
	testlines.Append(t, b, 1, 0, 1000)
	ag := startAgent(t, cfg, 0)
	seen := testlines.NewSeen()
	c := kafkatest.NewConsumer(t, kc.Addr, "logs")
	consume := func(n int) { t.Helper(); consumeUntil(t, c, seen, n, 60*time.Second) }
	consume(1000) // only a is configured
	if seen.Count[[2]int{1, 0}] != 0 {
		t.Fatal("b shipped before its input was added")
	}

	write(input(filepath.Dir(a)) + "\n" + input(filepath.Dir(b)))
	if out, err := exec.Command(binary, "test", "config", "-c", cfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Fatalf("test config: %v %s", err, out)
	}
	if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testlines.Append(t, a, 0, 1000, 1500)
	consume(2500)

	// An invalid file: refused, reported, and the agent ships on.
	if err := os.WriteFile(cfg, []byte("inputs: [{paths: []}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "test", "config", "-c", cfg)
	cmd.Stderr = &stderr
	if err := cmd.Run(); cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "agent.yml:1: inputs[0].paths: must not be empty") {
		t.Fatalf("test config of an invalid file: %v, exit %d, %s", err, cmd.ProcessState.ExitCode(), stderr.String())
	}
	if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, ag, "reload refused; the running configuration stays")
	testlines.Append(t, b, 1, 1000, 1500)
	consume(3000)
	for _, r := range c.Poll(t.Context(), 500*time.Millisecond) {
		seen.Add(string(r.Value))
	}
	if seen.Dups != 0 || seen.Distinct() != 3000 {
		t.Fatalf("%d distinct, %d duplicates", seen.Distinct(), seen.Dups)
	}
	addr := listenLine.FindSubmatch(readLog(t, ag))
	if addr == nil {
		t.Fatal("the agent did not log where its http endpoint listens")
	}
	resp, err := http.Get("http://" + string(addr[1]) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`logship_reloads_total{result="ok"} 1`, `logship_reloads_total{result="error"} 1`, "logship_events_acked_total 3000", "logship_build_info{version="} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	ag.term(t)
}

var listenLine = regexp.MustCompile(`msg="http endpoint listening" key=http.listen addr=(\S+)`)

func readLog(t *testing.T, a *agent) []byte {
	t.Helper()
	data, err := os.ReadFile(a.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func waitLog(t *testing.T, a *agent, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(a.log.Name())
		if bytes.Contains(data, []byte(s)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never logged %q", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Under systemd (Type=notify) the binary reports readiness, reloads, the
// watchdog and stopping on $NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := filepath.Join(dir, "agent.yml")
	const listen = "127.0.0.1:0"
	if err := os.WriteFile(cfg, fmt.Appendf(nil, opsConfig, fmt.Sprintf("  - {paths: [%q]}", filepath.Join(dir, "*.log")), dir, kc.Addr, listen), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-c", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=1000000")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	expect := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		deadline := time.Now().Add(20 * time.Second)
		for {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if strings.HasPrefix(string(buf[:n]), want) {
				return
			}
		}
	}
	expect("READY=1")
	expect("WATCHDOG=1")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	expect("RELOADING=1")
	expect("READY=1")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect("STOPPING=1")
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	exited <- nil
}
