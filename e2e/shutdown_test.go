package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

var waitingLine = regexp.MustCompile(`msg="waiting for events to reach Kafka before stopping" unacknowledged=[1-9][0-9]* up_to=10s kafka_connected=`)

// SIGTERM while the broker is gone and lines wait: the agent stops within
// shutdown_timeout and a moment, having written its registry (sarama's close
// waits for its own retries, which overran shutdown_timeout 6 to 24 times,
// past systemd's TimeoutStopSec). Nothing is lost: after a restart with the
// broker back, every line arrives. It says at once what it waits for, and
// at the end what it left, and exits 3.

func TestStopWithBrokerGone(t *testing.T) {
	const shutdown = 10 * time.Second // the rig's shutdown_timeout
	port := kafkatest.FreePort(t)
	data := t.TempDir()
	kc := kafkatest.StartOn(t, port, kfake.DataDir(data), kfake.DefaultNumPartitions(1))
	r := newRigWith(t, kc, `paths: ["%s/*.log"]`, "")
	app := r.begin("a.log", 0, 1000)
	reg := filepath.Join(r.dir, "data", "registry.json")
	r.waitFor("the registry at 1000 lines", func() bool { return testlines.RegistryOffsets(t, reg)[app] == 1000*testlines.LineLen })

	kc.Close()
	testlines.Append(t, app, 0, 1000, 3000)
	r.waitFor("failed deliveries", func() bool {
		log, _ := os.ReadFile(r.a.log.Name())
		return strings.Contains(string(log), "events_failed=")
	})
	began := time.Now()
	a := r.a
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// At once, it says what it waits for, and for how long.
	r.waitFor("the waiting message", func() bool {
		log, _ := os.ReadFile(a.log.Name())
		return waitingLine.Match(log)
	})
	if waited := time.Since(began); waited > 2*time.Second {
		t.Errorf("the waiting message came %s after SIGTERM", waited)
	}
	err := <-a.done
	a.done <- nil
	r.a = nil
	took := time.Since(began)
	if took > shutdown+3*time.Second {
		t.Fatalf("stopped after %s; shutdown_timeout is %s", took, shutdown)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "agent-0.log"))
	// It ends saying how many were left, and exits 3.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit %v after a stop with events left, want status 3", err)
	}
	left := regexp.MustCompile(`level=WARN msg="logship stopped" unacknowledged=([1-9][0-9]*) `).FindSubmatch(log)
	if left == nil || !strings.Contains(string(log), "stopped with "+string(left[1])+" events unacknowledged by Kafka; they are read again at the next start") {
		t.Fatalf("no final line with the events left:\n%s", log)
	}
	if off := testlines.RegistryOffsets(t, reg)[app]; off != 1000*testlines.LineLen {
		t.Fatalf("registry at %d bytes, want the 1000 acknowledged lines", off)
	}

	kc = kafkatest.StartOn(t, port, kfake.DataDir(data), kfake.DefaultNumPartitions(1))
	r.kc = kc
	r.consumer = kafkatest.NewConsumer(t, kc.Addr, "logs")
	r.seen = testlines.NewSeen()
	r.start()
	r.consume(3000)
	r.stop()
	if off := testlines.RegistryOffsets(t, reg)[app]; off != 3000*testlines.LineLen {
		t.Fatalf("registry at %d bytes after the restart, want all 3000 lines", off)
	}
	t.Logf("stopped in %s with the broker gone", took.Round(10*time.Millisecond))
}
