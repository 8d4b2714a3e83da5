package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

var waitingLine = regexp.MustCompile(`msg="waiting for events to reach Kafka before stopping" unacknowledged=[1-9][0-9]* up_to=10s kafka_connected=`)

// SIGTERM while the broker is gone and lines wait: the agent stops on its
// own, having written its registry (sarama's close waits for its own
// retries, which once kept it up 6 to 24 times shutdown_timeout, past
// systemd's TimeoutStopSec); how long it waits is the agent's own timer, not
// asserted here. Nothing is lost: after a restart with the broker back,
// every line arrives. It says what it waits for and up to when, at the end
// what it left, and exits 3; after a clean stop its final line has the run's
// totals.
func TestStopWithBrokerGone(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	kc := kafkatest.StartOn(t, 0, kfake.DataDir(data), kfake.DefaultNumPartitions(1))
	port := kc.Port() // the restarted broker listens here again
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
	a := r.a
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// It says what it waits for, and for how long (shutdown_timeout), and
	// stops on its own while the broker stays gone.
	r.waitFor("the waiting message", func() bool {
		log, _ := os.ReadFile(a.log.Name())
		return waitingLine.Match(log)
	})
	err := <-a.done
	a.done <- nil
	r.a = nil
	log, _ := os.ReadFile(filepath.Join(r.dir, "agent-0.log"))
	if w := waitingLine.FindIndex(log); w == nil || w[0] > stoppedLine.FindIndex(log)[0] {
		t.Fatalf("the waiting message is not logged before the final line:\n%s", log)
	}
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
	// A clean stop's final line has the run's totals and says Kafka was
	// connected (it was, to the end).
	log, _ = os.ReadFile(filepath.Join(r.dir, "agent-1.log"))
	last := stoppedLine.Find(log)
	if !regexp.MustCompile(` unacknowledged=0 .*events_acked=2000 .*kafka_connected=true `).Match(last) {
		t.Fatalf("final line after a clean stop: %s\nwant unacknowledged=0, the run's 2000 events acknowledged and kafka_connected=true", last)
	}
}
