package kafka

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlog"
	"github.com/logship/logship/spooler"
)

// offsets records committed offsets.
type offsets struct {
	mu  sync.Mutex
	off map[string]int64
}

func (o *offsets) Commit(src *event.Source, pos fileid.Position) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.off[src.Path] = pos.Offset
}

// runPolicy ships lines, every tenth of them too large for
// max_message_bytes, and returns the output's stats and the offsets.
func runPolicy(t *testing.T, kc *kafkatest.Cluster, k config.Kafka, lines int) (Stats, map[string]int64) {
	t.Helper()
	return runPolicyLogged(t, kc, k, lines, testLog)
}

// runPolicyLogged is runPolicy with the output logging to log.
func runPolicyLogged(t *testing.T, kc *kafkatest.Cluster, k config.Kafka, lines int, log *slog.Logger) (Stats, map[string]int64) {
	t.Helper()
	k.Hosts = []string{kc.Addr}
	out, err := New(k, "h", log)
	if err != nil {
		t.Fatal(err)
	}
	reg := &offsets{off: map[string]int64{}}
	sp := spooler.New(spooler.Config{MaxEvents: 1000, MaxBytes: 1 << 24, BatchEvents: 100, FlushInterval: 20 * time.Millisecond}, out, reg)
	var outWG, spWG sync.WaitGroup
	outWG.Go(func() { _ = out.Run(t.Context()) })
	spWG.Go(func() { _ = sp.Run(t.Context()) })
	src := &event.Source{Path: "/logs/a.log", Input: &event.Input{Type: "log"}}
	var off int64
	c := &event.Chunk{}
	for i := range lines {
		line := lineText(0, i)
		if i%10 == 9 {
			line += strings.Repeat("#", 5000)
		}
		c.Events = append(c.Events, event.Event{Source: src, Line: []byte(line), Offset: off, End: off + int64(len(line)) + 1})
		c.Bytes += len(line)
		off += int64(len(line)) + 1
	}
	sp.In() <- c
	close(sp.In())
	spWG.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := out.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	out.Close()
	outWG.Wait()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.off[src.Path] != off {
		t.Fatalf("offset %d, want %d: rejected events must not hold the file back", reg.off[src.Path], off)
	}
	return out.Stats(), reg.off
}

func TestOversizedDrop(t *testing.T) {
	kc := kafkatest.Start(t)
	k := kafkaCfg(config.CodecRaw)
	k.MaxMessageBytes = 1000
	k.OnPermanentError = config.PermanentDrop
	st, _ := runPolicy(t, kc, k, 200)
	if st.Dropped[ReasonTooLarge] != 20 || len(st.DeadLettered) != 0 {
		t.Fatalf("dropped %v, dead-lettered %v", st.Dropped, st.DeadLettered)
	}
	consumeExactlyOnce(t, kc.Addr, "logs", 180, rawValue)
}

func TestOversizedDeadLetter(t *testing.T) {
	kc := kafkatest.Start(t)
	k := kafkaCfg(config.CodecJSON)
	k.MaxMessageBytes = 1000
	k.DeadLetter.Path = filepath.Join(t.TempDir(), "dead", "letter.ndjson")
	st, _ := runPolicy(t, kc, k, 200)
	if st.DeadLettered[ReasonTooLarge] != 20 || len(st.Dropped) != 0 {
		t.Fatalf("dropped %v, dead-lettered %v", st.Dropped, st.DeadLettered)
	}
	consumeExactlyOnce(t, kc.Addr, "logs", 180, func(r *kgo.Record) string { return kafkatest.JSONMessage(r.Value) })
	recs := readDeadLetters(t, k.DeadLetter.Path)
	if len(recs) != 20 {
		t.Fatalf("%d dead letters, want 20", len(recs))
	}
	r := recs[0]
	if r.Reason != ReasonTooLarge || r.Log.File.Path != "/logs/a.log" || !strings.HasPrefix(r.Message, lineText(0, 9)) || len(r.Message) != len(lineText(0, 9))+5000 {
		t.Fatalf("dead letter %+v", r)
	}
}

func readDeadLetters(t *testing.T, path string) []deadRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []deadRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r deadRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("dead letter line is not JSON: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// A broker that refuses a produce request for good (an invalid record):
// those events go to the dead letter file, the rest to Kafka, none retried
// forever.
func TestBrokerRejectsForGood(t *testing.T) {
	kc := kafkatest.Start(t, kfake.SeedTopics(1, "logs"))
	kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.InvalidRecord, Count: 1})
	k := kafkaCfg(config.CodecRaw)
	k.DeadLetter.Path = filepath.Join(t.TempDir(), "dl.ndjson")
	k.MaxMessageBytes = 1 << 20
	st, _ := runPolicy(t, kc, k, 100)
	rejected := st.DeadLettered[ReasonInvalidRecord]
	if rejected == 0 || st.DeadLettered[ReasonTooLarge] != 0 {
		t.Fatalf("dead-lettered %v", st.DeadLettered)
	}
	if n := len(readDeadLetters(t, k.DeadLetter.Path)); int64(n) != rejected {
		t.Fatalf("%d dead letters for %d rejections", n, rejected)
	}
	consumeExactlyOnce(t, kc.Addr, "logs", 100-int(rejected), func(r *kgo.Record) string { return string(r.Value[:len(lineText(0, 0))]) })
}

// TopicAuthorizationFailed is an operator's error, not the event's: one ACL
// mistake must not dead-letter every line. The deliveries it refuses are
// retried (counted as failed, logged at WARN saying what to grant, Kafka
// marked not connected) and every line arrives once the broker takes them;
// nothing is dead-lettered or dropped.
func TestTopicAuthorizationFailedIsRetried(t *testing.T) {
	kc := kafkatest.Start(t, kfake.SeedTopics(1, "logs"))
	kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: 3})
	logs := &testlog.Buffer{}
	k := kafkaCfg(config.CodecRaw)
	k.DeadLetter.Path = filepath.Join(t.TempDir(), "dl.ndjson")
	k.Retry.Backoff = config.Duration(10 * time.Millisecond)
	st, _ := runPolicyLogged(t, kc, k, 100, slog.New(slog.NewTextHandler(logs, nil)))
	if len(st.DeadLettered) != 0 || len(st.Dropped) != 0 || st.Failed == 0 {
		t.Fatalf("dead-lettered %v, dropped %v, failed %d: want the refused deliveries failed and retried", st.DeadLettered, st.Dropped, st.Failed)
	}
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "TopicAuthorizationFailed): grant it Write on the topic") || !strings.Contains(s, "kafka refuses writes: not authorized") {
		t.Fatalf("the refusal is not logged loudly:\n%s", s)
	}
	consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue)
}

func TestPermanentReason(t *testing.T) {
	for err, want := range map[error]string{
		sarama.ErrMessageSizeTooLarge:      ReasonTooLarge,
		sarama.ErrTopicAuthorizationFailed: "", // an ACL to fix: retried, not the event's fault
		sarama.ErrInvalidRecord:            ReasonInvalidRecord,
		sarama.ErrNotLeaderForPartition:    "",
		context.DeadlineExceeded:           "",
	} {
		if got := permanentReason(err); got != want {
			t.Errorf("permanentReason(%v) = %q, want %q", err, got, want)
		}
	}
}

// A broker that refuses producer IDs: idempotence, on by default, is
// dropped with a warning; asked for explicitly, it is insisted on.
func TestIdempotenceRefused(t *testing.T) {
	refuse := func(kc *kafkatest.Cluster) {
		kc.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
			kc.KeepControl()
			resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.SetVersion(req.GetVersion())
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp, nil, true
		})
	}
	t.Run("default", func(t *testing.T) {
		kc := kafkatest.Start(t)
		refuse(kc)
		p := startPipeline(t, kc, kc.Gate(nil), 1, kafkaCfg(config.CodecRaw))
		p.feed(t, 0, 100)
		p.stop(t)
		consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue)
	})
	t.Run("explicit", func(t *testing.T) {
		kc := kafkatest.Start(t)
		refuse(kc)
		k := kafkaCfg(config.CodecRaw)
		k.Hosts = []string{kc.Addr}
		on := true
		k.Idempotent = &on
		logs := connectErr(t, k, "kafka unreachable, retrying")
		if !strings.Contains(logs, "kafka unreachable, retrying") || strings.Contains(logs, "continuing without idempotence") {
			t.Fatalf("explicit idempotence was not insisted on:\n%s", logs)
		}
	})
}

func TestDeadLetterCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.ndjson")
	d := &deadLetter{path: path, maxSize: 1000}
	src := &event.Source{Path: "/a.log"}
	for i := range 20 {
		if err := d.write(&event.Event{Source: src, Line: []byte(strings.Repeat("z", 100)), Offset: int64(i)}, "logs", ReasonTooLarge, context.Canceled); err != nil {
			t.Fatal(err)
		}
	}
	d.close()
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() > 1000 || fi.Size() == 0 {
			t.Fatalf("%s: %v, %d bytes (cap 1000)", p, err, fi.Size())
		}
	}
	if recs := readDeadLetters(t, path); len(recs) == 0 || recs[len(recs)-1].Log.Offset != 19 {
		t.Fatalf("the newest record is not in the current file: %+v", recs)
	}
}

// smallDisk mounts a tmpfs of size bytes of the test's own at a new
// directory and returns it.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a tmpfs of the test's own: %v: %s", err, out)
		}
		t.Skipf("needs root to mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// A dead letter that cannot be written (its disk is full) leaves its event
// unsettled: the file's offset does not move past it and nothing is
// counted as dropped, in either delivery mode (with exactly_once its
// transaction is aborted and tried again). Once there is room, the write is
// tried again, succeeds, every other line is in Kafka once, and the offset
// moves to the end.
func TestDeadLetterWriteFailureHoldsTheOffset(t *testing.T) {
	for _, k := range []config.Kafka{kafkaCfg(config.CodecRaw), txnCfg("agent-dl")} {
		t.Run(k.Delivery, func(t *testing.T) {
			kc := kafkatest.Start(t)
			disk := smallDisk(t, 64<<10)
			filler := filepath.Join(disk, "filler")
			if err := os.WriteFile(filler, make([]byte, 62<<10), 0o644); err != nil {
				t.Fatal(err)
			}
			k.Hosts = []string{kc.Addr}
			k.MaxMessageBytes = 1000
			k.DeadLetter.Path = filepath.Join(disk, "letter.ndjson")
			k.Retry.Backoff, k.Retry.MaxBackoff = config.Duration(10*time.Millisecond), config.Duration(50*time.Millisecond)
			logs := &testlog.Buffer{}
			out, err := New(k, "h", slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			reg := &offsets{off: map[string]int64{}}
			sp := spooler.New(spooler.Config{MaxEvents: 1000, MaxBytes: 1 << 24, BatchEvents: 100, FlushInterval: 20 * time.Millisecond}, out, reg)
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			wg.Go(func() { _ = out.Run(ctx) })
			wg.Go(func() { _ = sp.Run(ctx) })
			defer func() { cancel(); out.Close(); wg.Wait() }()
			src := &event.Source{ID: "1:1", Path: "/logs/a.log", Input: &event.Input{Type: "log"}}
			var off int64
			c := &event.Chunk{}
			for i := range 20 {
				line := lineText(0, i)
				if i == 9 {
					line += strings.Repeat("#", 5000) // too large for Kafka, and for the disk's room
				}
				c.Events = append(c.Events, event.Event{Source: src, Line: []byte(line), Offset: off, End: off + int64(len(line)) + 1})
				c.Bytes += len(line)
				off += int64(len(line)) + 1
			}
			sp.In() <- c
			if !k.ExactlyOnce() {
				// The other lines are delivered meanwhile; in a
				// transaction they wait with the one it cannot settle.
				consumeExactlyOnce(t, kc.Addr, "logs", 19, rawValue)
			}
			waitUntil(t, "a dead letter write to fail", func() bool { return strings.Contains(logs.String(), "dead letter write failed") })
			reg.mu.Lock()
			held := reg.off[src.Path]
			reg.mu.Unlock()
			if held != 0 {
				t.Fatalf("offset %d committed while line 9 is neither in Kafka nor in the dead letter file", held)
			}
			if st := out.Stats(); len(st.Dropped) != 0 || len(st.DeadLettered) != 0 {
				t.Fatalf("dropped %v, dead-lettered %v while the dead letter could not be written", st.Dropped, st.DeadLettered)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the offset at the end once the disk has room", func() bool {
				reg.mu.Lock()
				defer reg.mu.Unlock()
				return reg.off[src.Path] == off
			})
			consumeExactlyOnce(t, kc.Addr, "logs", 19, rawValue, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			if recs := readDeadLetters(t, k.DeadLetter.Path); len(recs) != 1 || !strings.HasPrefix(recs[0].Message, lineText(0, 9)) {
				t.Fatalf("dead letters %+v, want line 9", recs)
			}
			if st := out.Stats(); st.DeadLettered[ReasonTooLarge] != 1 || len(st.Dropped) != 0 {
				t.Fatalf("dropped %v, dead-lettered %v", st.Dropped, st.DeadLettered)
			}
		})
	}
}
