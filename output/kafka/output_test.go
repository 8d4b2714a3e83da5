package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/internal/eventually"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlog"
	"github.com/logship/logship/spooler"
)

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

const lineLen = 12 // "f00-0000000\n"

func lineText(file, i int) string { return fmt.Sprintf("f%02d-%07d", file, i) }

// checkCommitter fails the test if an offset is committed for a line the
// broker had not been sent successfully at that moment.
type checkCommitter struct {
	t    *testing.T
	gate *kafkatest.Gate
	mu   sync.Mutex
	file map[*event.Source]int
	next map[*event.Source]int // lines verified so far
	bad  []string
}

func (c *checkCommitter) Commit(src *event.Source, pos fileid.Position) {
	offset := pos.Offset
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int(offset / lineLen)
	for i := c.next[src]; i < n && c.gate != nil; i++ { // nil: compressed records, which the gate cannot read
		if !c.gate.Written(lineText(c.file[src], i)) {
			c.bad = append(c.bad, fmt.Sprintf("%s committed to %d but line %d was never written", src.Path, offset, i))
		}
	}
	c.next[src] = n
}

type pipeline struct {
	out   *Output
	sp    *spooler.Spooler
	done  chan struct{}
	srcs  []*event.Source
	cc    *checkCommitter
	outWG sync.WaitGroup
	spWG  sync.WaitGroup
}

func startPipeline(t *testing.T, kc *kafkatest.Cluster, gate *kafkatest.Gate, files int, cfg config.Kafka) *pipeline {
	t.Helper()
	cfg.Hosts = []string{kc.Addr}
	out, err := New(cfg, "test-host", testLog)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{out: out, done: make(chan struct{})}
	p.cc = &checkCommitter{t: t, gate: gate, file: map[*event.Source]int{}, next: map[*event.Source]int{}}
	for i := range files {
		src := &event.Source{ID: fmt.Sprint(i), Path: fmt.Sprintf("/logs/f%02d.log", i), Input: &event.Input{Type: "log"}}
		p.srcs = append(p.srcs, src)
		p.cc.file[src] = i
	}
	p.sp = spooler.New(spooler.Config{MaxEvents: 4096, MaxBytes: 16 << 20, BatchEvents: 512, FlushInterval: 50 * time.Millisecond}, out, p.cc)
	ctx := t.Context()
	p.outWG.Go(func() {
		if err := out.Run(ctx); err != nil {
			t.Errorf("output Run: %v", err)
		}
	})
	p.spWG.Go(func() {
		if err := p.sp.Run(ctx); err != nil {
			t.Errorf("spooler Run: %v", err)
		}
	})
	return p
}

// feed sends lines [from, to) of every file, in chunks, as harvesters would.
func (p *pipeline) feed(t *testing.T, from, to int) {
	for start := from; start < to; start += 100 {
		for f, src := range p.srcs {
			c := &event.Chunk{}
			for i := start; i < min(start+100, to); i++ {
				line := []byte(lineText(f, i))
				c.Events = append(c.Events, event.Event{Source: src, Line: line, Offset: int64(i * lineLen), End: int64((i + 1) * lineLen), Time: time.Now()})
				c.Bytes += len(line)
			}
			select {
			case p.sp.In() <- c:
			case <-t.Context().Done():
				return
			}
		}
	}
}

func (p *pipeline) stop(t *testing.T) {
	close(p.sp.In())
	p.spWG.Wait() // the spooler has published its last batch
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.out.Drain(ctx); err != nil {
		t.Errorf("drain: %v", err)
	}
	p.out.Close()
	p.outWG.Wait()
	if len(p.cc.bad) > 0 {
		t.Fatalf("offsets ran ahead of delivery (%d), first: %s", len(p.cc.bad), p.cc.bad[0])
	}
}

// consumeExactlyOnce reads topic until want distinct values arrived and
// fails on any duplicate.
func consumeExactlyOnce(t *testing.T, addr, topic string, want int, value func(*kgo.Record) string, opts ...kgo.Opt) map[string]*kgo.Record {
	t.Helper()
	seen := make(map[string]*kgo.Record, want)
	dups := 0
	c := kafkatest.NewConsumer(t, addr, topic, opts...)
	ok := c.Until(t.Context(), 60*time.Second, func(r *kgo.Record) {
		v := value(r)
		if seen[v] != nil {
			dups++
		}
		seen[v] = r
	}, func() bool { return len(seen) >= want })
	if !ok {
		t.Fatalf("got %d distinct lines, want %d", len(seen), want)
	}
	// Anything more (a duplicate arriving late) shows up in one more poll.
	for _, r := range c.Poll(t.Context(), time.Second) {
		if seen[value(r)] != nil {
			dups++
		}
		seen[value(r)] = r
	}
	if dups != 0 || len(seen) != want {
		t.Fatalf("%d distinct lines (want %d), %d duplicates", len(seen), want, dups)
	}
	return seen
}

func rawValue(r *kgo.Record) string { return string(r.Value) }

func kafkaCfg(codec string) config.Kafka {
	k := config.Default().Output.Kafka
	k.Codec = codec
	return k
}

func TestDeliverRawExactlyOnce(t *testing.T) {
	kc := kafkatest.Start(t)
	gate := kc.Gate(nil)
	const files, lines = 5, 4000
	p := startPipeline(t, kc, gate, files, kafkaCfg(config.CodecRaw))
	p.feed(t, 0, lines)
	p.stop(t)
	consumeExactlyOnce(t, kc.Addr, "logs", files*lines, rawValue)
	for f, src := range p.srcs {
		if got := p.cc.next[src]; got != lines {
			t.Errorf("file %d committed %d lines, want %d", f, got, lines)
		}
	}
	if st := p.out.Stats(); st.Acked != files*lines || st.Inflight != 0 || st.LastDelivery.IsZero() {
		t.Errorf("stats %+v", st)
	}
}

// Produce requests fail for a while; every line still arrives once, and no
// offset is committed for a line the broker did not take.
func TestRetriesThroughProduceErrors(t *testing.T) {
	kc := kafkatest.Start(t)
	gate := kc.Gate(nil)
	const files, lines = 3, 3000
	// A short backoff: sarama's own retries run out within the fault, so
	// logship's re-sends are exercised too.
	k := kafkaCfg(config.CodecRaw)
	k.Retry.Backoff, k.Retry.MaxBackoff = config.Duration(time.Millisecond), config.Duration(50*time.Millisecond)
	p := startPipeline(t, kc, gate, files, k)
	p.feed(t, 0, 500)
	gate.Fail(kerr.NotEnoughReplicas)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		// Lines keep coming while the broker refuses; feeding blocks once
		// the spooler is full.
		p.feed(t, 500, lines)
	}()
	time.Sleep(3 * time.Second) // the length of the fault, not a synchronisation
	if gate.Rejected() == 0 {
		t.Fatal("the fault never hit a produce request")
	}
	gate.Fail(nil)
	<-fed
	p.stop(t)
	consumeExactlyOnce(t, kc.Addr, "logs", files*lines, rawValue)
	if p.out.Stats().Retries == 0 {
		t.Error("no message was retried")
	}
}

func TestJSONEvent(t *testing.T) {
	kc := kafkatest.Start(t)
	gate := kc.Gate(kafkatest.JSONMessage)
	p := startPipeline(t, kc, gate, 1, kafkaCfg(config.CodecJSON))
	p.srcs[0].Input.FieldsJSON = []byte(`{"service":"web"}`)
	p.feed(t, 0, 10)
	p.stop(t)
	got := consumeExactlyOnce(t, kc.Addr, "logs", 10, func(r *kgo.Record) string {
		var e struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("value is not JSON: %v: %s", err, r.Value)
		}
		return e.Message
	})
	var e map[string]any
	if err := json.Unmarshal(got[lineText(0, 3)].Value, &e); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"message": lineText(0, 3),
		"log":     map[string]any{"offset": float64(3 * lineLen), "file": map[string]any{"path": "/logs/f00.log"}},
		"input":   map[string]any{"type": "log"},
		"host":    map[string]any{"name": "test-host"},
		"fields":  map[string]any{"service": "web"},
	}
	ts, _ := e["@timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("@timestamp %q: %v", ts, err)
	}
	delete(e, "@timestamp")
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("event\n got %v\nwant %v", e, want)
	}
}

// The probe an idle output makes answers whether a broker is there.
func TestProbe(t *testing.T) {
	kc := kafkatest.Start(t)
	cfg := config.Default().Output.Kafka
	cfg.Hosts = []string{kc.Addr}
	out, err := New(cfg, "h", testLog)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.probe(); err != nil {
		t.Fatalf("probe with the broker up: %v", err)
	}
	kc.Close()
	if err := out.probe(); err == nil {
		t.Fatal("probe with the broker gone succeeded")
	}
}

// A hung broker (one that answers nothing and fails nothing, as a
// SIGSTOPped one) is noticed: once events wait longer than a broker may take
// to answer, the output says it is not connected, and logs it once; when
// the broker answers again, it is connected and everything arrives.
func TestHungBrokerNoticed(t *testing.T) {
	kc := kafkatest.Start(t)
	var hung atomic.Bool
	release := make(chan struct{})
	held := atomic.Int64{}
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if hung.Load() {
			held.Add(1)
			kc.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	var logs testlog.Buffer
	cfg := kafkaCfg(config.CodecRaw)
	cfg.BrokerTimeout = config.Duration(time.Second)
	cfg.Timeout = config.Duration(20 * time.Second) // sarama's own timeout must not tell first
	cfg.Hosts = []string{kc.Addr}
	out, err := New(cfg, "h", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{out: out, cc: &checkCommitter{t: t, gate: kafkatest.NewGate(nil), file: map[*event.Source]int{}, next: map[*event.Source]int{}}}
	src := &event.Source{ID: "0", Path: "/logs/f00.log", Input: &event.Input{Type: "log"}}
	p.srcs = []*event.Source{src}
	offs := &offsets{off: map[string]int64{}}
	p.sp = spooler.New(spooler.Config{MaxEvents: 4096, MaxBytes: 16 << 20, BatchEvents: 100, FlushInterval: 10 * time.Millisecond}, out, offs)
	p.outWG.Go(func() { _ = out.Run(t.Context()) })
	p.spWG.Go(func() { _ = p.sp.Run(t.Context()) })
	p.feed(t, 0, 100)
	waitUntil(t, "the first lines delivered", func() bool { return out.Stats().Acked == 100 })
	if !out.Stats().Connected {
		t.Fatal("not connected with the broker answering")
	}
	hung.Store(true)
	p.feed(t, 100, 200)
	waitUntil(t, "a produce request held", func() bool { return held.Load() > 0 })
	waitUntil(t, "the output to see the broker hung", func() bool { return !out.Stats().Connected })
	// The state changes, then the line is written: wait for the line.
	waitUntil(t, "the hung broker logged", func() bool { return strings.Contains(logs.String(), "kafka not acknowledging") })
	if n := strings.Count(logs.String(), "kafka not acknowledging"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	hung.Store(false)
	close(release)
	waitUntil(t, "every line delivered", func() bool { return out.Stats().Acked == 200 })
	waitUntil(t, "connected again", func() bool { return out.Stats().Connected })
	close(p.sp.In())
	p.spWG.Wait()
	out.Close()
	p.outWG.Wait()
	consumeExactlyOnce(t, kc.Addr, "logs", 200, rawValue)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually.Within(t, 30*time.Second, what, cond)
}
