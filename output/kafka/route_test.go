package kafka

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/spooler"
)

// Values from Kafka's own test of Utils.murmur2.
func TestMurmur2KafkaVectors(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := int32(murmur2([]byte(key))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

// The hash partitioner agrees with franz-go's Kafka-compatible partitioner.
func TestHashPartitionerAgreesWithKafka(t *testing.T) {
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	ours := newPartitioner(config.Partition{})("t")
	for i := range 1000 {
		key := "key-" + strconv.Itoa(i*7919)
		for _, n := range []int{1, 3, 12, 50} {
			want := kp.Partition(&kgo.Record{Key: []byte(key)}, n)
			got, err := ours.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, int32(n))
			if err != nil || int(got) != want {
				t.Fatalf("key %q of %d partitions: %d, want %d", key, n, got, want)
			}
		}
	}
}

func TestRoundRobin(t *testing.T) {
	p := newPartitioner(config.Partition{RoundRobin: &struct{}{}})("t")
	for i := range 9 {
		if got, _ := p.Partition(&sarama.ProducerMessage{}, 3); got != int32(i%3) {
			t.Fatalf("message %d to partition %d", i, got)
		}
	}
}

func TestFormat(t *testing.T) {
	src := &event.Source{Path: "/a.log", Input: &event.Input{Type: "log", Fields: map[string]any{"service": "web", "n": 3}}}
	e := &event.Event{Source: src, Line: []byte("x")}
	for in, want := range map[string]string{
		"logs":                          "logs",
		"logs-%{[fields.service]}":      "logs-web",
		"%{[fields.n]}-%{[input.type]}": "3-log",
		"%{[fields.env]:dev}-x":         "dev-x",
	} {
		f, err := parseFormat(in, "topic")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.apply(e); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	f, _ := parseFormat("%{[fields.env]}", "topic")
	if _, err := f.apply(e); err == nil {
		t.Error("missing field without a default: no error")
	}
	for _, bad := range []string{"%{fields.x}", "a-%{[x]", "%{[]}"} {
		if _, err := parseFormat(bad, "topic"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Topic format strings and rules, keys hashed where Kafka would put them,
// headers with codec raw, and an event whose topic cannot be formatted.
func TestRouting(t *testing.T) {
	kc := kafkatest.Start(t, kfake.DefaultNumPartitions(6))
	k := kafkaCfg(config.CodecRaw)
	k.Hosts = []string{kc.Addr}
	k.Topic = "logs-%{[fields.service]}"
	k.Topics = []config.TopicRule{{Topic: "errors", When: config.Condition{Contains: map[string]string{"message": "ERROR"}}}}
	k.Key = "%{[fields.service]}-%{[log.offset]}"
	k.Headers = []config.Header{{Key: "origin", Value: "logship"}}
	k.OnPermanentError = config.PermanentDrop
	out, err := New(k, "h", testLog)
	if err != nil {
		t.Fatal(err)
	}
	sp := spooler.New(spooler.Config{MaxEvents: 1000, MaxBytes: 1 << 24, BatchEvents: 50, FlushInterval: 20 * time.Millisecond}, out, &offsets{off: map[string]int64{}})
	var outWG, spWG sync.WaitGroup
	outWG.Go(func() { _ = out.Run(t.Context()) })
	spWG.Go(func() { _ = sp.Run(t.Context()) })
	web := &event.Source{Path: "/logs/web.log", Input: &event.Input{Type: "log", Fields: map[string]any{"service": "web"}}}
	api := &event.Source{Path: "/logs/api.log", Input: &event.Input{Type: "log", Fields: map[string]any{"service": "api"}}}
	none := &event.Source{Path: "/logs/none.log", Input: &event.Input{Type: "log"}}
	c := &event.Chunk{}
	for i := range 60 {
		src := []*event.Source{web, api, none}[i%3]
		line := fmt.Sprintf("line %d", i)
		if i%10 == 0 {
			line = fmt.Sprintf("ERROR line %d", i)
		}
		c.Events = append(c.Events, event.Event{Source: src, Line: []byte(line), Offset: int64(i * 100), End: int64(i*100 + 99)})
	}
	sp.In() <- c
	close(sp.In())
	spWG.Wait()
	if err := out.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	out.Close()
	outWG.Wait()

	// none.log has no service: neither its topic nor (for its ERROR lines,
	// which the rule sends to "errors") its key can be formatted, so all
	// 20 of its events are rejected by policy.
	if got := out.Stats().Dropped[ReasonRouting]; got != 20 {
		t.Fatalf("%d routing rejections, want 20", got)
	}
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("")
	for topic, want := range map[string]int{"logs-web": 18, "logs-api": 18, "errors": 4} {
		var got []*kgo.Record
		cons := kafkatest.NewConsumer(t, kc.Addr, topic)
		cons.Until(t.Context(), 20*time.Second, func(r *kgo.Record) { got = append(got, r) }, func() bool { return len(got) >= want })
		if len(got) != want {
			t.Fatalf("%s: %d records, want %d", topic, len(got), want)
		}
		for _, r := range got {
			if p := kp.Partition(r, 6); int32(p) != r.Partition {
				t.Errorf("%s: key %q in partition %d, Kafka's partitioner says %d", topic, r.Key, r.Partition, p)
			}
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			if h["origin"] != "logship" || h["log.file.path"] == "" || h["log.offset"] == "" {
				t.Errorf("%s: headers %v", topic, h)
			}
		}
	}
}

// A message logship re-sends after sarama failed it goes back to the
// partition it was sent to, whatever the strategy; a first send is the
// strategy's.
func TestResendKeepsPartition(t *testing.T) {
	for _, p := range []config.Partition{{}, {RoundRobin: &struct{}{}}, {Random: &struct{}{}}} {
		part := newPartitioner(p)("logs")
		dc, ok := part.(sarama.DynamicConsistencyPartitioner)
		if !ok {
			t.Fatal("not a DynamicConsistencyPartitioner")
		}
		m := &sarama.ProducerMessage{Metadata: &msgMeta{attempts: 1, partition: 5}}
		for range 20 {
			if got, err := part.Partition(m, 6); err != nil || got != 5 || !dc.MessageRequiresConsistency(m) {
				t.Fatalf("%+v: re-sent to %d (%v), consistency %v", p, got, err, dc.MessageRequiresConsistency(m))
			}
		}
		seen := map[int32]bool{}
		for range 60 {
			st := new(batchState)
			st.partition.Store(-1)
			first := &sarama.ProducerMessage{Metadata: &msgMeta{batch: st, partition: -1}}
			got, _ := part.Partition(first, 6)
			seen[got] = true
		}
		if len(seen) < 2 {
			t.Fatalf("%+v: first sends all to %v", p, seen)
		}
	}
}

// Under hash, keyless records stay on one partition per batch and the
// batches take turns; keyed records go where their key says, whatever
// their batch, and only they need every partition offered.
func TestKeylessStickToTheirBatch(t *testing.T) {
	part := newPartitioner(config.Partition{})("logs")
	dc := part.(sarama.DynamicConsistencyPartitioner)
	used := map[int32]int{}
	for range 6 {
		st := new(batchState)
		st.partition.Store(-1)
		var first int32 = -1
		for i := range 100 {
			m := &sarama.ProducerMessage{Metadata: &msgMeta{batch: st, partition: -1}}
			got, err := part.Partition(m, 3)
			if err != nil || (first >= 0 && got != first) {
				t.Fatalf("record %d of a batch to partition %d (%v), its first went to %d", i, got, err, first)
			}
			first = got
			if dc.MessageRequiresConsistency(m) {
				t.Fatal("a keyless record requires every partition")
			}
			keyed := &sarama.ProducerMessage{Key: sarama.StringEncoder(fmt.Sprint("key", i)), Metadata: &msgMeta{batch: st, partition: -1}}
			want := int32(murmur2([]byte(fmt.Sprint("key", i)))&0x7fffffff) % 3
			if got, _ := part.Partition(keyed, 3); got != want || !dc.MessageRequiresConsistency(keyed) {
				t.Fatalf("keyed record to %d, murmur2 says %d", got, want)
			}
		}
		used[first]++
	}
	if len(used) != 3 || used[0] != 2 || used[1] != 2 || used[2] != 2 {
		t.Fatalf("6 batches over 3 partitions: %v", used)
	}
}

// codec raw adds the line's file and offset as headers unless
// source_headers is false; static headers stay either way.
func TestSourceHeaders(t *testing.T) {
	off := false
	static := []config.Header{{Key: "origin", Value: "logship"}}
	for _, tc := range []struct {
		k    config.Kafka
		want int
	}{
		{config.Kafka{Topic: "logs", Codec: config.CodecRaw, Headers: static}, 3},
		{config.Kafka{Topic: "logs", Codec: config.CodecRaw, Headers: static, SourceHeaders: &off}, 1},
		{config.Kafka{Topic: "logs", Codec: config.CodecJSON, Headers: static}, 1},
	} {
		r, err := newRouter(tc.k)
		if err != nil {
			t.Fatal(err)
		}
		e := &event.Event{Source: &event.Source{Path: "/a.log"}, Offset: 42}
		hs, _ := r.appendHeaders(nil, nil, e)
		if r.headerCount() != tc.want || len(hs) != tc.want {
			t.Errorf("codec %s, source_headers %v: %d headers (%d counted), want %d", tc.k.Codec, tc.k.SourceHeaders, len(hs), r.headerCount(), tc.want)
		}
	}
}

// A record pinned to its partition (an offsets record) is never sent to
// another when the metadata does not show that partition (a topic just
// created): the partitioner refuses, and the transaction is tried again.
// A re-sent event falls back to the configured partitioner.
func TestPinnedRecordNeverRehashed(t *testing.T) {
	p := pinned{new(roundRobin)}
	offsets := &sarama.ProducerMessage{Topic: "logship-offsets", Metadata: &msgMeta{partition: 7, pin: true}}
	if got, err := p.Partition(offsets, 12); err != nil || got != 7 {
		t.Fatalf("Partition of 12 = %d, %v; want 7", got, err)
	}
	if got, err := p.Partition(offsets, 3); err == nil {
		t.Fatalf("an offsets record for partition 7 went to partition %d of 3", got)
	}
	resent := &sarama.ProducerMessage{Topic: "logs", Metadata: &msgMeta{partition: 7, attempts: 1}}
	if got, err := p.Partition(resent, 3); err != nil || got < 0 || got >= 3 {
		t.Fatalf("a re-sent event for a partition past 3: %d, %v", got, err)
	}
}
