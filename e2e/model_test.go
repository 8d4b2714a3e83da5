package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlines"
)

var (
	modelSeed  = flag.Uint64("model.seed", 0, "TestModel: run this seed only (0: the fixed seeds)")
	modelSeeds = flag.Int("model.seeds", 0, "TestModel: run this many random seeds besides the fixed ones")
	modelOps   = flag.Int("model.ops", 30, "TestModel: operations per seed")
)

// maxAppend is the most lines one operation appends.
const maxAppend = 3000

// modelFixedSeeds run in CI; any failure found with another seed gets its
// own regression test (and its seed may join these).
var modelFixedSeeds = []uint64{1, 2, 3}

// TestModel applies a seeded random sequence of what happens to log files
// and to the agent (appends, rename rotation, copytruncate, gzip of a
// rotated file, deletion and truncation of files read to their end, new
// files, SIGTERM and kill -9 with restarts, broker outages) to real files and
// the real binary, and checks the result against a model: every line
// written arrives (copytruncate is done with no write between the copy and
// the truncation, so it has no window here), duplicates stay within what the
// crashes and outages can repeat, and after a clean stop every live file's
// offset is its size. The seed is logged: -model.seed=N replays it.
func TestModel(t *testing.T) {
	seeds := modelFixedSeeds
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	}
	for range *modelSeeds {
		seeds = append(seeds, rand.Uint64())
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, seed, *modelOps) })
	}
}

// model is what was written and where, and what must therefore arrive.
type model struct {
	t       *testing.T
	r       *rig
	rng     *rand.Rand
	port    int
	data    string
	live    map[string]int // live file name → its stream
	next    map[int]int    // stream → next sequence number
	rotated []string       // rotated plain files, by name
	streams int
	rotN    int
	crashes int // kill -9 and outages: each may repeat what was in flight
	log     []string
}

func runModel(t *testing.T, seed uint64, ops int) {
	t.Logf("seed %d (replay with -model.seed=%d)", seed, seed)
	data := t.TempDir()
	kc := kafkatest.StartOn(t, 0, kfake.DataDir(data), kfake.DefaultNumPartitions(1))
	port := kc.Port() // the restarted broker listens here again
	r := newRigWith(t, kc, `paths: ["%[1]s/*.log"]
rotated_files: ["%[1]s/*.log.*"]
decompress: auto`, "")
	m := &model{t: t, r: r, rng: rand.New(rand.NewPCG(seed, 7)), port: port, data: data,
		live: map[string]int{}, next: map[int]int{}}
	m.create("app0.log")
	m.appendLines("app0.log", 500)
	r.start()
	defer func() {
		if t.Failed() {
			t.Logf("seed %d, operations:\n%s", seed, strings.Join(m.log, "\n"))
		}
	}()
	for range ops {
		m.step()
		time.Sleep(time.Duration(m.rng.IntN(300)) * time.Millisecond) // when the next thing happens: part of the model
	}
	if r.a == nil {
		m.do("start")
		r.start()
	}
	m.check()
}

func (m *model) do(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *model) create(name string) {
	m.live[name] = m.streams
	m.streams++
}

func (m *model) appendLines(name string, n int) {
	s := m.live[name]
	testlines.Append(m.t, m.r.path(name), s, m.next[s], m.next[s]+n)
	m.next[s] += n
}

func (m *model) names() []string {
	var out []string
	for n := range m.live {
		out = append(out, n)
	}
	// map order is random: sort for a replayable sequence
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func (m *model) pick() string {
	names := m.names()
	return names[m.rng.IntN(len(names))]
}

// step applies one random operation.
func (m *model) step() {
	t, r := m.t, m.r
	switch op := m.rng.IntN(100); {
	case op < 35:
		name, n := m.pick(), 1+m.rng.IntN(maxAppend)
		m.do("append %d lines to %s", n, name)
		m.appendLines(name, n)
	case op < 45:
		name := m.pick()
		m.rotN++
		rot := fmt.Sprintf("%s.%d", name, m.rotN)
		m.do("rename %s to %s, new %s", name, rot, name)
		if err := os.Rename(r.path(name), r.path(rot)); err != nil {
			t.Fatal(err)
		}
		m.rotated = append(m.rotated, rot)
		m.create(name)
		m.appendLines(name, 1+m.rng.IntN(200))
	case op < 52:
		name := m.pick()
		m.rotN++
		rot := fmt.Sprintf("%s.%d", name, m.rotN)
		m.do("copytruncate %s to %s", name, rot)
		copyFile(t, r.path(name), r.path(rot))
		if err := os.Truncate(r.path(name), 0); err != nil {
			t.Fatal(err)
		}
		m.rotated = append(m.rotated, rot)
	case op < 58 && len(m.rotated) > 0:
		i := m.rng.IntN(len(m.rotated))
		rot := m.rotated[i]
		m.do("gzip %s", rot)
		gzipFile(t, r.path(rot), r.path(rot+".gz"))
		m.rotated = append(m.rotated[:i], m.rotated[i+1:]...)
	case op < 62 && len(m.rotated) > 0:
		// Deleting loses what was not read: only a file that arrived.
		i := m.rng.IntN(len(m.rotated))
		rot := m.rotated[i]
		if r.a == nil || r.kc == nil {
			return
		}
		m.do("delete %s once read", rot)
		m.waitArrived()
		if err := os.Remove(r.path(rot)); err != nil {
			t.Fatal(err)
		}
		m.rotated = append(m.rotated[:i], m.rotated[i+1:]...)
	case op < 66:
		// Truncating loses what was not read: only once it arrived.
		name := m.pick()
		if r.a == nil || r.kc == nil {
			return
		}
		m.do("truncate %s once read, then write", name)
		m.waitArrived()
		if err := os.Truncate(r.path(name), 0); err != nil {
			t.Fatal(err)
		}
		m.appendLines(name, 1+m.rng.IntN(500))
	case op < 72 && len(m.live) < 4:
		name := fmt.Sprintf("app%d.log", len(m.live))
		m.do("new file %s", name)
		m.create(name)
		m.appendLines(name, 1+m.rng.IntN(maxAppend))
	case op < 80:
		if r.a == nil {
			m.do("start")
			r.start()
			return
		}
		m.do("SIGTERM and restart")
		r.stop()
		r.start()
	case op < 88:
		if r.a == nil {
			return
		}
		m.do("kill -9")
		r.a.kill9(t)
		r.a = nil
		m.crashes++
		if m.rng.IntN(2) == 0 {
			m.do("start")
			r.start()
		}
	default:
		if r.kc == nil {
			return
		}
		d := time.Duration(500+m.rng.IntN(3000)) * time.Millisecond
		m.do("broker gone for %s", d)
		r.kc.Close()
		r.kc = nil
		m.crashes++
		name := m.pick()
		m.appendLines(name, 1+m.rng.IntN(maxAppend))
		time.Sleep(d) // the outage's length
		r.kc = kafkatest.StartOn(t, m.port, kfake.DataDir(m.data), kfake.DefaultNumPartitions(1))
	}
}

// waitArrived waits until every line written so far has arrived.
func (m *model) waitArrived() {
	m.t.Helper()
	r := m.r
	ok := r.consumer.Until(m.t.Context(), 90*time.Second, func(rec *kgo.Record) { r.seen.Add(string(rec.Value)) }, func() bool {
		return len(m.missing()) == 0
	})
	if !ok {
		m.t.Fatalf("lines never arrived: e.g. %v", m.missing())
	}
}

// missing lists up to 10 lines written that have not arrived.
func (m *model) missing() []string {
	var out []string
	for s := range m.streams {
		for i := range m.next[s] {
			if m.r.seen.Count[[2]int{s, i}] == 0 {
				out = append(out, fmt.Sprintf("stream %d line %d", s, i))
				if len(out) == 10 {
					return out
				}
			}
		}
	}
	return out
}

func (m *model) check() {
	t, r := m.t, m.r
	m.waitArrived()
	r.drain()
	written := 0
	for s := range m.streams {
		written += m.next[s]
	}
	var live []string
	for _, n := range m.names() {
		live = append(live, r.path(n))
	}
	r.stopCaughtUp(live...)
	// Each crash or outage may send again what was in flight (the queue,
	// passed by a chunk at most) and what was acknowledged since the last
	// registry write (here at most one operation's lines).
	bound := m.crashes * (maxEvents + 512 + maxAppend)
	t.Logf("%d operations, %d lines in %d streams, %d crashes and outages, %d duplicates (bound %d)", len(m.log), written, m.streams, m.crashes, r.seen.Dups, bound)
	if r.seen.Bad != 0 || r.seen.Dups > bound {
		t.Fatalf("%d malformed values, %d duplicates (bound %d)", r.seen.Bad, r.seen.Dups, bound)
	}
	if left, _ := filepath.Glob(r.path("*.tmp")); len(left) > 0 {
		t.Fatalf("stray files: %v", left)
	}
}
