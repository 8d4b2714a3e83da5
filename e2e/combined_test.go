package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

// Faults that combine: rotation during an outage, then a crash or a
// restart. Each case once lost lines: a file was entered in the registry at
// a position read but not acknowledged, or not entered at all.

// linesRead is how many lines the running agent has read, from its
// progress lines.
func (r *rig) linesRead() int {
	data, err := os.ReadFile(r.a.log.Name())
	if err != nil {
		return 0
	}
	n := 0
	for _, m := range linesReadField.FindAllSubmatch(data, -1) {
		d, _ := strconv.Atoi(string(m[1]))
		n += d
	}
	return n
}

var linesReadField = regexp.MustCompile(`msg=progress .*input_lines_read=(\d+)`)

func (r *rig) registryPath() string { return filepath.Join(r.dir, "data", "registry.json") }

// While Kafka refuses every produce request, app.log is read to its end and
// then rotated; its content continues under another inode (a copy, or a
// .gz). The agent is killed once the rotated file is in the registry on
// disk, the broker comes back, and the agent restarts: every line arrives,
// once (none of the rotated lines had reached Kafka), and the positions
// catch up. The rotated file was entered at where the original had been
// read, ahead of Kafka, so the restart skipped 2,000 lines.
func TestRotatedDuringOutageThenKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, input string
		rotated     string
		rotate      func(t *testing.T, app string)
	}{
		{"copytruncate", `paths: ["%[1]s/app.log", "%[1]s/app.log.1"]`, "app.log.1", func(t *testing.T, app string) {
			copyFile(t, app, app+".1")
			if err := os.Truncate(app, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"rename and gzip", `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]
decompress: auto`, "app.log.1.gz", func(t *testing.T, app string) {
			renameRotate(t, app)
			gzipFile(t, app+".1", app+".1.gz")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := kafkatest.Start(t, kfake.DefaultNumPartitions(1))
			gate := kc.Gate(nil)
			r := newRigWith(t, kc, tc.input, "")
			app := r.begin("app.log", 0, 500)

			gate.Fail(kerr.NotEnoughReplicas)
			testlines.Append(t, app, 0, 500, 2500)
			r.waitFor("2,500 lines read", func() bool { return r.linesRead() >= 2500 })
			tc.rotate(t, app)
			rotated := r.path(tc.rotated)
			r.waitFor(tc.rotated+" in the registry on disk", func() bool {
				_, ok := testlines.RegistryOffsetOf(t, r.registryPath(), rotated)
				return ok
			})
			if gate.Rejected() == 0 {
				t.Fatal("the broker refused nothing: the outage did not happen")
			}
			for i := 500; i < 2500; i++ {
				if gate.Written(testlines.Line(0, i)) {
					t.Fatalf("line %d reached Kafka during the outage", i)
				}
			}
			r.a.kill9(t)

			gate.Fail(nil)
			testlines.Append(t, app, 0, 2500, 2600)
			r.start()
			r.exactlyOnce(1, 2600)
			r.stopCaughtUp(app)
			if off, _ := testlines.RegistryOffsetOf(t, r.registryPath(), rotated); tc.rotated == "app.log.1" && off != 2500*testlines.LineLen {
				t.Fatalf("%s at %d in the registry after a clean stop, want %d", tc.rotated, off, 2500*testlines.LineLen)
			}
		})
	}
}

// With harvester_limit 1, b.log waits for the slot a.log holds (a.log is
// written all along), is renamed to b.log.1 while it waits, and the agent
// is restarted after the registry was written again: b.log.1 is the
// agent's to read, not history. It was never entered in the registry, so
// the restart took it for a rotated file older than the registry and read
// none of its lines.
func TestWaitingForASlotThenRotated(t *testing.T) {
	t.Parallel()
	r := newRig(t, `paths: ["%[1]s/*.log"]
rotated_files: ["%[1]s/*.log.1"]
harvester_limit: 1`)
	a := r.begin("a.log", 0, 100)
	// a.log is written every 10 ms (close_inactive is 1s), so it holds
	// the slot until the writer stops.
	stop := make(chan struct{})
	var written int
	var writer sync.WaitGroup
	writer.Go(func() {
		for written = 100; ; written += 10 {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			testlines.Append(t, a, 0, written, written+10)
		}
	})
	b := r.path("b.log")
	testlines.Append(t, b, 1, 0, 300)
	r.waitFor("b.log in the registry on disk", func() bool {
		_, ok := testlines.RegistryOffsetOf(t, r.registryPath(), b)
		return ok
	})
	if err := os.Rename(b, b+".1"); err != nil {
		t.Fatal(err)
	}
	bfi, err := os.Stat(b + ".1")
	if err != nil {
		t.Fatal(err)
	}
	// The registry is written again after b.log's last write (a.log's
	// lines are acknowledged all along), so at the restart b.log.1 is a
	// rotated file older than the registry.
	r.waitFor("a registry write after b.log's last write", func() bool {
		fi, err := os.Stat(r.registryPath())
		return err == nil && fi.ModTime().After(bfi.ModTime())
	})
	close(stop)
	writer.Wait()
	r.consume(written)
	r.stopCaughtUp(a)
	for i := range 300 {
		if r.seen.Count[[2]int{1, i}] != 0 {
			t.Fatalf("line %d of b.log arrived while a.log held the only slot", i)
		}
	}
	r.start()
	r.consume(written + 300)
	r.drain()
	for i := range 300 {
		if n := r.seen.Count[[2]int{1, i}]; n != 1 {
			t.Fatalf("line %d of b.log arrived %d times", i, n)
		}
	}
	if r.seen.Distinct() != written+300 || r.seen.Dups != 0 {
		t.Fatalf("%d distinct lines of %d, %d duplicates", r.seen.Distinct(), written+300, r.seen.Dups)
	}
	r.stopCaughtUp(a, b+".1")
}

// While Kafka refuses every produce request and the queue is full (the
// harvester waits to hand on a line), app.log is truncated and written
// again, then renamed and compressed at once: its new content is now in
// app.log.1.gz, and behind the harvester's open descriptor. The .gz waits
// until the harvester has seen the truncation, and then continues where
// the harvester reads the new content to. It was taken for new content and
// read from its start while the harvester read the same lines through its
// descriptor: each line of the new content arrived twice, with no crash
// (found by TestModel, seed 9277204739537804754).
func TestRewrittenUnderAWaitingHarvesterThenCompressed(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Start(t, kfake.DefaultNumPartitions(1))
	gate := kc.Gate(nil)
	r := newRigWith(t, kc, `paths: ["%[1]s/app.log"]
rotated_files: ["%[1]s/app.log.*"]
decompress: auto`, "")
	app := r.begin("app.log", 0, 500)

	gate.Fail(kerr.NotEnoughReplicas)
	testlines.Append(t, app, 0, 500, 500+2*maxEvents)
	r.waitFor("the queue full", func() bool {
		data, _ := os.ReadFile(r.a.log.Name())
		return strings.Contains(string(data), fmt.Sprintf("queue_events=%d ", maxEvents))
	})
	if err := os.Truncate(app, 0); err != nil {
		t.Fatal(err)
	}
	testlines.Append(t, app, 1, 0, 1000)
	renameRotate(t, app) // app.log -> app.log.1
	gzipFile(t, app+".1", app+".1.gz")
	r.waitFor("a scan to find app.log.1.gz", func() bool {
		data, _ := os.ReadFile(r.a.log.Name())
		return strings.Contains(string(data), "app.log.1.gz")
	})
	if gate.Rejected() == 0 {
		t.Fatal("the broker refused nothing: the outage did not happen")
	}
	gate.Fail(nil)
	// The new content arrives whole; of the old, the lines read before
	// the truncation (the rest was truncated unread).
	r.consumer.Until(t.Context(), 90*time.Second, func(rec *kgo.Record) { r.seen.Add(string(rec.Value)) }, func() bool {
		for i := range 1000 {
			if r.seen.Count[[2]int{1, i}] == 0 {
				return false
			}
		}
		return true
	})
	r.stopCaughtUp()
	r.drain()
	for i := range 1000 {
		if n := r.seen.Count[[2]int{1, i}]; n != 1 {
			t.Fatalf("line %d of the new content arrived %d times", i, n)
		}
	}
	if r.seen.Dups != 0 || r.seen.Bad != 0 {
		t.Fatalf("%d duplicates, %d malformed", r.seen.Dups, r.seen.Bad)
	}
	for i := range 500 + maxEvents {
		if r.seen.Count[[2]int{0, i}] != 1 {
			t.Fatalf("line %d of the old content, read before the truncation, arrived %d times", i, r.seen.Count[[2]int{0, i}])
		}
	}
}
