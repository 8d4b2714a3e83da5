package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// exactlyOnceOutput is the output keys of the exactly_once tests.
const exactlyOnceOutput = "delivery: exactly_once\ntransactional_id: e2e-agent"

// newExactlyOnceRig is a rig whose agent ships exactly_once and whose
// consumer reads committed records only, as the mode's consumers must.
func newExactlyOnceRig(t *testing.T, kc *kafkatest.Cluster, input string) *rig {
	t.Helper()
	r := newRigWith(t, kc, input, exactlyOnceOutput)
	r.consumer = kafkatest.NewConsumer(t, kc.Addr, "logs", kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	return r
}

// uncommitted counts the records of topic logs a read_uncommitted consumer
// sees: with aborted transactions, more than the lines.
func uncommitted(t *testing.T, addr string) int {
	n := 0
	for _, r := range kafkatest.All(t, addr) {
		if r.Topic == "logs" {
			n++
		}
	}
	return n
}

var eoKillSeed = flag.Uint64("eo.kill9.seed", 0, "seed of TestExactlyOnceKill9's kill moments (0: from the clock)")

// The built binary is killed (-9) 20 times while a file is written and
// rename-rotated. A third of the kills land while the broker holds a
// commit (EndTxn), which it completes only after the agent died; a third
// while it holds a produce request of the agent's transaction, which it
// writes after the agent died (a transaction left open); the rest at
// random moments. A read_committed consumer then sees every line exactly
// once, and the registry caught up.
func TestExactlyOnceKill9(t *testing.T) {
	t.Parallel()
	seed := *eoKillSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -eo.kill9.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	kc := kafkatest.Start(t)
	// holdNext[key] asks the hook to hold the next request of that key
	// (a produce request only if it carries lines): it hands the test a
	// channel and keeps the request until the test closes it.
	holdNext := map[kmsg.Key]*atomic.Bool{kmsg.EndTxn: {}, kmsg.Produce: {}}
	held := make(chan chan struct{}, 1)
	for key, hold := range holdNext {
		kc.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			kc.KeepControl()
			if p, ok := req.(*kmsg.ProduceRequest); ok && (len(p.Topics) == 0 || p.Topics[0].Topic != "logs") {
				return nil, nil, false
			}
			if hold.CompareAndSwap(true, false) {
				kc.SleepControl(func() {
					release := make(chan struct{})
					held <- release
					<-release
				})
			}
			return nil, nil, false
		})
	}
	r := newExactlyOnceRig(t, kc, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]`)
	app := r.path("app.log")

	// The agent runs before the file is rotated the first time: rotated
	// files present at a first start are history, not read.
	const kills, perKill, rotateEvery = 20, 3000, 12000
	const total = 200 + kills*perKill
	testlines.Append(t, app, 0, 0, 200)
	r.start()
	r.consume(200)
	heldKills := map[kmsg.Key]int{}
	for k := range kills {
		if k > 0 {
			r.start()
		}
		// Each run of the agent has new lines to ship, so it produces
		// and commits.
		from := 200 + k*perKill
		key := []kmsg.Key{kmsg.EndTxn, kmsg.Produce, -1}[k%3]
		if key >= 0 {
			holdNext[key].Store(true)
		}
		writeRotating(t, app, from, from+perKill, rotateEvery, time.Millisecond).Wait()
		if key < 0 {
			time.Sleep(time.Duration(rng.IntN(900)) * time.Millisecond) // the kill moment, at random
			r.a.kill9(t)
			r.a = nil
			continue
		}
		select {
		case release := <-held:
			r.a.kill9(t)
			close(release) // the broker carries out what the dead agent asked for
			heldKills[key]++
		case <-time.After(2 * time.Minute):
			t.Fatalf("kill %d: the agent sent no %s request in 2 minutes", k+1, kmsg.NameForKey(int16(key)))
		}
		r.a = nil
	}
	r.start()
	r.exactlyOnce(1, total)
	r.stopCaughtUp(app)
	if n := uncommitted(t, kc.Addr); n <= total {
		t.Errorf("read_uncommitted sees %d records for %d lines: no transaction was left open by a kill", n, total)
	}
	t.Logf("%d kills, %d inside a held commit, %d inside a held produce request; %d records in the log for %d lines",
		kills, heldKills[kmsg.EndTxn], heldKills[kmsg.Produce], uncommitted(t, kc.Addr), total)
}

// A 30 s outage (the listener closed, the broker back on its data), then
// produce requests failing for 10 s: every line once, the registry at the
// end.
func TestExactlyOnceOutage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	kc := kafkatest.StartOn(t, 0, kfake.DataDir(data))
	port := kc.Port() // the restarted broker listens here again
	r := newExactlyOnceRig(t, kc, `paths: ["%s/*.log"]`)
	app := r.begin("a.log", 0, 1000)

	kc.Close()
	testlines.Append(t, app, 0, 1000, 3000)
	r.waitFor("the agent to notice the outage", func() bool {
		log, _ := os.ReadFile(r.a.log.Name())
		return strings.Contains(string(log), "kafka_connected=false")
	})
	time.Sleep(30 * time.Second) // the outage lasts
	kc = kafkatest.StartOn(t, port, kfake.DataDir(data))
	r.kc = kc
	gate := kc.Gate(nil)
	gate.Fail(kerr.PolicyViolation)
	r.consumer = kafkatest.NewConsumer(t, kc.Addr, "logs", kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	r.seen = testlines.NewSeen()
	testlines.Append(t, app, 0, 3000, 4000)
	r.waitFor("produce requests refused", func() bool { return gate.Rejected() > 0 })
	time.Sleep(10 * time.Second) // produce fails this long
	gate.Fail(nil)
	r.exactlyOnce(1, 4000)
	r.stopCaughtUp(app)
}

// SIGHUP reloads while lines flow: every line once.
func TestExactlyOnceReload(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t)
	r := newExactlyOnceRig(t, kc, `paths: ["%s/*.log"]`)
	app := r.begin("a.log", 0, 500)
	wg := writeSteadily(t, app, 500, 20000)
	for i := 1; i <= 5; i++ {
		time.Sleep(time.Duration(20*i) * time.Millisecond) // lines flow between reloads, some land in a restore
		if err := r.a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		r.waitFor(fmt.Sprintf("reload %d", i), func() bool {
			log, _ := os.ReadFile(r.a.log.Name())
			return strings.Count(string(log), "msg=reloaded") >= i
		})
	}
	wg.Wait()
	r.exactlyOnce(1, 20000)
	r.stopCaughtUp(app)
	// A reload that stops a restore under way is not a failure.
	if log, _ := os.ReadFile(r.dir + "/agent-0.log"); strings.Contains(string(log), "reading the file positions from kafka failed") {
		t.Fatal("a reload was logged as a failure to read the file positions")
	}
}

// A second agent with the same transactional id fences the first: the
// first stops with an error naming the id at its next transaction (lines
// written once the second runs), the second carries on from the positions
// the first committed, and no line is duplicated or lost.
func TestExactlyOnceFencing(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t)
	r := newExactlyOnceRig(t, kc, `paths: ["%s/*.log"]`)
	// The second: the same configuration and id, a registry of its own.
	second := newExactlyOnceRig(t, kc, `paths: ["%.0s`+r.logs+`/*.log"]`) // %.0s: not its own logs
	checkFencing(t, r, second, "e2e-agent")
}

// checkFencing starts first on a.log, then second with the same
// transactional id id on the same files, and checks that first stops with
// status 1 and says why, and that second ships every line once.
func checkFencing(t *testing.T, r, second *rig, id string) {
	t.Helper()
	app := r.begin("a.log", 0, 1000)
	first := r.a
	writeSteadily(t, app, 1000, 4000).Wait()
	second.start()
	// The second's producer has taken the id over (it logs progress once
	// started); the first learns it at its next transaction.
	second.waitFor("the second agent connected", func() bool {
		log, _ := os.ReadFile(second.a.log.Name())
		return strings.Contains(string(log), "connected to kafka")
	})
	wg := writeSteadily(t, app, 4000, 8000)
	select {
	case err := <-first.done:
		first.done <- err
		// 1, failed: not 3 (events left to read again), though events
		// were left; and it did not wait shutdown_timeout for them.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("the fenced agent exited with %v, want status 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first agent did not stop after the second took over its transactional id")
	}
	log, _ := os.ReadFile(first.log.Name())
	if !strings.Contains(string(log), fmt.Sprintf(`another producer took over transactional_id \"%s\"`, id)) {
		t.Fatalf("the fenced agent's log does not say so:\n%s", log)
	}
	r.a = nil
	wg.Wait()
	second.exactlyOnce(1, 8000)
	second.stopCaughtUp(app)
}

// writeSteadily appends lines [from, to) of stream 0 to path, 100 every
// 2 ms, on a goroutine of the returned group.
// writeRotating appends lines [from, total) of stream 0 to path, 200 at a
// time with pause between, and rename-rotates it (path.1, …) every
// rotateEvery lines except at the end.
func writeRotating(t *testing.T, path string, from, total, rotateEvery int, pause time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := from; seq < total; seq += 200 {
			testlines.Append(t, path, 0, seq, seq+200)
			if (seq+200)%rotateEvery == 0 && seq+200 < total {
				renameRotate(t, path) // app.log -> app.log.1, …
			}
			time.Sleep(pause)
		}
	})
	return &wg
}

func writeSteadily(t *testing.T, path string, from, to int) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := from; seq < to; seq += 100 {
			testlines.Append(t, path, 0, seq, min(seq+100, to))
			time.Sleep(2 * time.Millisecond)
		}
	})
	return &wg
}

// copytruncate under exactly_once, the agent killed after Kafka committed
// the truncation but before the registry on disk learned of it and before
// the agent saw the copy: the restart takes Kafka's positions, and the copy
// continues where the original content was delivered, so no line arrives
// twice. Kafka's offsets record for the truncated file once held only the
// new content's position: the restart replaced the registry's entry with
// it, nothing knew the old content any more, and the copy was read again
// from its start (found by TestModel, seed 9277204739537804754).
func TestExactlyOnceCopyTruncateThenKilled(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t, kfake.DefaultNumPartitions(1))
	r := newExactlyOnceRig(t, kc, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.1"]`)
	// The registry on disk is written when a file is first entered, not
	// after the commits below: only Kafka knows of the truncation.
	setConfig(t, r.cfg, "flush_interval: 100ms", "flush_interval: 1h")
	app := r.begin("app.log", 0, 2000)
	// The copy is made where the agent does not look, and moved into
	// place once it is dead: a copy the agent had not scanned yet.
	copied := filepath.Join(r.dir, "app.log.1")
	copyFile(t, app, copied)
	if err := os.Truncate(app, 0); err != nil {
		t.Fatal(err)
	}
	testlines.Append(t, app, 0, 2000, 2100)
	r.consume(2100) // committed after the truncation's position, in order
	r.a.kill9(t)
	r.a = nil
	if err := os.Rename(copied, r.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.waitFor("the restart to place app.log.1", func() bool {
		log, _ := os.ReadFile(r.dir + "/agent-1.log")
		return strings.Contains(string(log), `continues known content" component=prospector path=`+r.path("app.log.1"))
	})
	if log, _ := os.ReadFile(r.dir + "/agent-1.log"); !strings.Contains(string(log), "kafka's are used") {
		t.Fatal("the restart did not take Kafka's positions over the registry's: the fault did not happen")
	}
	// A clean stop commits whatever was read again, so the count after
	// it is final; app.log.1 is then at its end.
	r.consume(2100)
	r.stopCaughtUp(app, r.path("app.log.1"))
	r.exactlyOnce(1, 2100)
}

// setConfig replaces old by new in the agent configuration at path.
func setConfig(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
