package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// The genuine broker tier: what kfake cannot show is checked against a
// genuine Apache Kafka broker (../shared/genuine-kafka builds 2.1.1) named
// by LOGSHIP_TEST_KAFKA=host:port. Without it these tests skip. Each test
// uses topics and a transactional id of its own, so the tier runs again on
// the same broker without reading an earlier run's records.

// genuineAddr is the genuine broker's address, or skips t.
func genuineAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("LOGSHIP_TEST_KAFKA")
	if addr == "" {
		t.Skip("LOGSHIP_TEST_KAFKA is not set: no genuine Kafka broker (see README, Development)")
	}
	return addr
}

// newGenuineExactlyOnceRig is newExactlyOnceRig against the genuine broker:
// topic, offsets topic and transactional id new for this run, so the
// offsets topic is missing at the first start and the agent creates it.
func newGenuineExactlyOnceRig(t *testing.T, input string) *rig {
	t.Helper()
	addr := genuineAddr(t)
	suffix := fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	topic := "logs-" + suffix
	output := fmt.Sprintf("delivery: exactly_once\ntransactional_id: e2e-%s\noffsets_topic: offsets-%s", suffix, suffix)
	r := newRigWith(t, &kafkatest.Cluster{Addr: addr}, input, output)
	cfg, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "topic: logs\n", "topic: "+topic+"\n", 1))
	if err := os.WriteFile(r.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	r.consumer = kafkatest.NewConsumer(t, addr, topic, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	return r
}

// Against a genuine broker, with the offsets topic missing at the first
// start (Kafka before 2.4 refuses the replication factor -1 kfake takes):
// the agent is killed (-9) 20 times while a file is written and
// rename-rotated; a read_committed consumer then counts every line exactly
// once, and the registry caught up.
func TestGenuineExactlyOnceKill9WithRotation(t *testing.T) {
	t.Parallel()
	r := newGenuineExactlyOnceRig(t, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]`)
	app := r.path("app.log")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	const total, rotateEvery = 30000, 6000
	testlines.Append(t, app, 0, 0, 200)
	r.start()
	r.consume(200) // the offsets topic was created: the first lines are committed
	wg := writeRotating(t, app, 200, total, rotateEvery, 10*time.Millisecond)
	for kills := 0; kills < 20; kills++ {
		if kills > 0 {
			r.start()
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond) // the kill moment, at random
		r.a.kill9(t)
		r.a = nil
	}
	wg.Wait()
	r.start()
	r.exactlyOnce(1, total)
	r.stopCaughtUp(app)
}
