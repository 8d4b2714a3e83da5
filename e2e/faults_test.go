package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// The Kafka fault matrix: each case ships 300,000 unique lines (2 files)
// written while the fault lasts, then checks that every line arrived, how
// many arrived twice, that the agent's memory stayed bounded by its queue
// (2 MiB here) while ~20 MiB of lines waited on disk, and that the registry
// never covered a line the broker had not taken.

const (
	faultFiles = 2
	faultLines = 150_000 // per file
	// rssBound is the documented memory budget (48 MiB): the queue (2 MiB),
	// sarama's buffers and the Go runtime, well under the ~20 MiB backlog
	// the fault leaves on disk.
	rssBound = 48 << 20
)

type faultCase struct {
	t      *testing.T
	r      *rig
	gate   *kafkatest.Gate
	peak   atomic.Int64
	bad    atomic.Value
	stop   chan struct{}
	wg     sync.WaitGroup
	writer sync.WaitGroup
}

// runFault starts the agent, writes the lines at a steady rate over about
// `over`, and calls fault once writing has begun.
//
// gate, if nil, is installed here, after the case's own controls, so that
// it records only what those let through.
//
// input adds keys to the input.
func runFault(t *testing.T, kc *kafkatest.Cluster, gate *kafkatest.Gate, output string, over time.Duration, fault func(fc *faultCase), input ...string) *faultCase {
	if gate == nil {
		gate = kc.Gate(nil)
	}
	fc := &faultCase{t: t, gate: gate, stop: make(chan struct{})}
	fc.r = newRigWith(t, kc, strings.Join(append([]string{`paths: ["%s/*.log"]`}, input...), "\n"), output)
	fc.r.start()
	// Memory and the registry are watched for the whole run.
	fc.wg.Go(func() {
		verified := make([]int64, faultFiles)
		for {
			select {
			case <-fc.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			fc.peak.Store(max(fc.peak.Load(), fc.r.rss()))
			offs := testlines.RegistryOffsets(t, filepath.Join(fc.r.dir, "data", "registry.json"))
			for f := range faultFiles {
				off := offs[fc.r.path(fmt.Sprintf("f%d.log", f))]
				for i := verified[f] / testlines.LineLen; i < off/testlines.LineLen; i++ {
					if !gate.Written(testlines.Line(f, int(i))) {
						fc.bad.Store(fmt.Sprintf("file %d: registry covers line %d, which the broker never took", f, i))
					}
				}
				verified[f] = max(verified[f], off)
			}
		}
	})
	step := 2500
	pause := over / time.Duration(faultLines/step)
	fc.writer.Go(func() {
		for i := 0; i < faultLines; i += step {
			for f := range faultFiles {
				testlines.Append(t, fc.r.path(fmt.Sprintf("f%d.log", f)), f, i, i+step)
			}
			time.Sleep(pause)
		}
	})
	fault(fc)
	fc.writer.Wait()
	return fc
}

// finish waits for every line and checks the case; it returns the duplicates.
func (fc *faultCase) finish(maxDups int) int {
	fc.t.Helper()
	return fc.finishWith(maxDups, 0)
}

// finishWith is finish for a case that also ships other values than the
// streams' lines: exactly others of them.
func (fc *faultCase) finishWith(maxDups, others int) int {
	t, r := fc.t, fc.r
	t.Helper()
	r.consume(faultFiles * faultLines)
	r.drain()
	close(fc.stop)
	fc.wg.Wait()
	if miss := r.seen.Missing(faultFiles, faultLines); len(miss) > 0 || r.seen.Bad != others {
		t.Fatalf("missing %v, %d other values, want %d", miss, r.seen.Bad, others)
	}
	if bad, _ := fc.bad.Load().(string); bad != "" {
		t.Fatal(bad)
	}
	if r.seen.Dups > maxDups {
		t.Fatalf("%d duplicates, at most %d expected", r.seen.Dups, maxDups)
	}
	if p := fc.peak.Load(); agentBinary(t) == binary && (p == 0 || p > rssBound) {
		t.Fatalf("peak RSS %d MiB, bound %d MiB", p>>20, rssBound>>20)
	}
	var files []string
	for f := range faultFiles {
		files = append(files, r.path(fmt.Sprintf("f%d.log", f)))
	}
	r.stopCaughtUp(files...)
	t.Logf("%d lines, %d duplicates, peak RSS %.1f MiB", faultFiles*faultLines, r.seen.Dups, float64(fc.peak.Load())/(1<<20))
	return r.seen.Dups
}

func TestFaultRetriableErrors10s(t *testing.T) {
	kc := kafkatest.Start(t)
	gate := kc.Gate(nil)
	fc := runFault(t, kc, gate, "", 12*time.Second, func(*faultCase) {
		time.Sleep(time.Second)
		gate.Fail(kerr.NotLeaderForPartition)
		time.Sleep(10 * time.Second)
		gate.Fail(nil)
	})
	if gate.Rejected() == 0 {
		t.Fatal("no request was failed")
	}
	fc.finish(0)
}

// NOT_ENOUGH_REPLICAS_AFTER_APPEND: the broker writes the records, then
// answers with an error. With idempotence sarama's retry is recognised;
// without it, the retry writes the records again.
func TestFaultWriteThenFail(t *testing.T) {
	for _, idem := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotent=%v", idem), func(t *testing.T) {
			kc := kafkatest.Start(t)
			output := "idempotent: true"
			if !idem {
				output = "idempotent: false"
			}
			var fault *kfake.FaultHandle
			fc := runFault(t, kc, nil, output, 10*time.Second, func(*faultCase) {
				time.Sleep(time.Second)
				fault = kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicasAfterAppend, Count: 20})
			})
			if fault.Hits() == 0 {
				t.Fatal("no produce request was answered with the fault")
			}
			if idem {
				fc.finish(0)
				return
			}
			if dups := fc.finish(faultFiles * faultLines); dups == 0 {
				t.Fatal("no duplicates without idempotence: the fault did not happen")
			}
		})
	}
}

// window installs a produce control that acts (fn) only while switched on,
// and a fault function that switches it on for d after a second. It returns
// the count of requests acted on.
func window(kc *kafkatest.Cluster, d time.Duration, fn func() (kmsg.Response, error, bool)) (*atomic.Int64, func(*faultCase)) {
	var on atomic.Bool
	var hits atomic.Int64
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if !on.Load() {
			return nil, nil, false
		}
		hits.Add(1)
		return fn()
	})
	return &hits, func(*faultCase) {
		time.Sleep(time.Second)
		on.Store(true)
		time.Sleep(d)
		on.Store(false)
	}
}

// Connections closed on produce requests, mid-request, for 8 s.
func TestFaultConnectionsCut(t *testing.T) {
	kc := kafkatest.Start(t)
	var n atomic.Int64
	cut, fault := window(kc, 8*time.Second, func() (kmsg.Response, error, bool) {
		if n.Add(1)%3 != 0 { // two in three
			return nil, fmt.Errorf("cut"), true
		}
		return nil, nil, false
	})
	fc := runFault(t, kc, nil, "", 10*time.Second, fault)
	if cut.Load() == 0 {
		t.Fatal("no connection was cut")
	}
	// A request the broker wrote whose answer was cut with the connection
	// is retried by sarama under its sequence (no duplicate); one it gave
	// up on is sent again by logship and can be: at most what is in flight.
	fc.finish(4096 + 512)
}

// Every produce response delayed 2 s for 10 s.
func TestFaultSlowBroker(t *testing.T) {
	kc := kafkatest.Start(t)
	slowed, fault := window(kc, 10*time.Second, func() (kmsg.Response, error, bool) {
		kc.SleepControl(func() { time.Sleep(2 * time.Second) })
		return nil, nil, false
	})
	fc := runFault(t, kc, nil, "", 12*time.Second, fault)
	if slowed.Load() == 0 {
		t.Fatal("no request was slowed")
	}
	fc.finish(0)
}

// Partition leaders move between the brokers of a 3-broker cluster.
func TestFaultLeaderMoves(t *testing.T) {
	kc := kafkatest.StartBrokers(t, 3, kfake.SeedTopics(6, "logs"))
	// Metadata requests counted from the first move: the agent learns of
	// each from NOT_LEADER answers and asks for metadata again.
	var moved atomic.Bool
	var metadata atomic.Int64
	kc.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if moved.Load() {
			metadata.Add(1)
		}
		return nil, nil, false
	})
	fc := runFault(t, kc, nil, "", 10*time.Second, func(*faultCase) {
		time.Sleep(time.Second)
		moved.Store(true)
		for range 8 {
			kc.ShufflePartitionLeaders()
			time.Sleep(time.Second)
		}
	})
	if metadata.Load() == 0 {
		t.Fatal("no metadata refresh after the leaders moved: the fault did not reach the agent")
	}
	fc.finish(0)
}

// The topic does not exist and the broker does not create topics: lines
// wait (the agent says why) until the topic is created.
func TestFaultTopicMissing(t *testing.T) {
	kc := kafkatest.StartStrict(t)
	fc := runFault(t, kc, nil, "", 8*time.Second, func(fc *faultCase) {
		time.Sleep(5 * time.Second)
		if err := kc.CreateTopic("logs", 3, nil); err != nil {
			t.Fatal(err)
		}
	})
	log, _ := os.ReadFile(fc.r.a.log.Name())
	if !strings.Contains(string(log), "topic or partition that does not exist") {
		t.Error("the agent did not say why lines were waiting")
	}
	fc.finish(0)
}

// The broker is gone for 60 s (closed, then started again on the same port
// and data).
func TestFaultBrokerGone60s(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute-long outage")
	}
	plainBinary(t) // the memory bound is measured here: the backlog grows for a minute
	data := t.TempDir()
	kc := kafkatest.StartOn(t, 0, kfake.DataDir(data))
	port := kc.Port() // the restarted broker listens here again
	gate := kafkatest.NewGate(nil)
	gate.Install(kc)
	fc := runFault(t, kc, gate, "", 50*time.Second, func(fc *faultCase) {
		time.Sleep(2 * time.Second)
		kc.Close()
		time.Sleep(60 * time.Second)
		kc2 := kafkatest.StartOn(t, port, kfake.DataDir(data))
		gate.Install(kc2)
		fc.r.kc = kc2
	})
	if log, _ := os.ReadFile(fc.r.a.log.Name()); !strings.Contains(string(log), "events_failed=") {
		t.Fatal("no failed delivery during the outage: the fault did not reach the agent")
	}
	// A batch sarama gave up on during the outage, that the broker had
	// written, is sent again under a new sequence: at most what is in
	// flight (the queue, passed by a chunk at most) can arrive twice.
	fc.finish(4096 + 512)
}

// Lines far longer than max_message_bytes: cut at max_bytes (which may not
// exceed it), flagged and shipped, every one; the file's offset moves past
// them and the streams' lines all arrive. (An event still too large, a
// processor's document, follows on_permanent_error: output/kafka's tests.)
func TestFaultOverlongLines(t *testing.T) {
	kc := kafkatest.Start(t)
	fc := runFault(t, kc, nil, "max_message_bytes: 10000", 8*time.Second, func(fc *faultCase) {
		big := fc.r.path("big.log")
		for i := range 100 {
			testlines.AppendRaw(t, big, fmt.Sprintf("overlong %03d %s\n", i, strings.Repeat("x", 20_000)))
			time.Sleep(20 * time.Millisecond)
		}
	}, "max_bytes: 9000")
	big := fc.r.path("big.log")
	fc.r.waitFor("big.log's offset to move past its lines", func() bool {
		fi, err := os.Stat(big)
		return err == nil && testlines.RegistryOffsets(t, filepath.Join(fc.r.dir, "data", "registry.json"))[big] == fi.Size()
	})
	fc.finishWith(0, 100)
	if log, _ := os.ReadFile(filepath.Join(fc.r.dir, "agent-0.log")); strings.Contains(string(log), "event rejected by kafka for good") {
		t.Fatal("an over-long line was rejected rather than cut")
	}
}
