package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/registry"
)

func txnCfg(id string) config.Kafka {
	k := kafkaCfg(config.CodecRaw)
	k.Delivery, k.TransactionalID = config.DeliveryExactlyOnce, id
	return k
}

// offsetEntries reads this id's records of the offsets topic read
// committed, the last of each key winning, until done holds for them.
func offsetEntries(t *testing.T, addr, topic, id string, done func(map[string]registry.Entry) bool) map[string]registry.Entry {
	t.Helper()
	out := map[string]registry.Entry{}
	c := kafkatest.NewConsumer(t, addr, topic, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	c.Until(t.Context(), 30*time.Second, func(r *kgo.Record) {
		if !strings.HasPrefix(string(r.Key), id+"/") || strings.HasSuffix(string(r.Key), "/start") || strings.HasSuffix(string(r.Key), "/"+seqKey) {
			return
		}
		var e registry.Entry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("offset record %q: %v", r.Value, err)
		}
		out[e.ID] = e
	}, func() bool { return done(out) })
	return out
}

// With exactly_once every line is in Kafka once for a read_committed
// consumer, the offsets topic holds each file's position at its end, and
// the local commits (the registry) came after the transactions.
func TestTransactionsDeliverOnce(t *testing.T) {
	kc := kafkatest.Start(t)
	gate := kc.Gate(nil)
	const files, lines = 4, 3000
	p := startPipeline(t, kc, gate, files, txnCfg("agent-1"))
	select {
	case <-p.out.Restored():
	case <-time.After(30 * time.Second):
		t.Fatal("no restore")
	}
	if n := len(p.out.RestoredEntries()); n != 0 {
		t.Fatalf("a first start restored %d entries", n)
	}
	p.feed(t, 0, lines)
	p.stop(t)
	consumeExactlyOnce(t, kc.Addr, "logs", files*lines, rawValue, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	entries := offsetEntries(t, kc.Addr, "logship-offsets", "agent-1", func(m map[string]registry.Entry) bool {
		for _, src := range p.srcs {
			if m[src.ID].Offset != int64(lines*lineLen) {
				return false
			}
		}
		return true
	})
	for f, src := range p.srcs {
		if e := entries[src.ID]; e.Offset != int64(lines*lineLen) || e.Path != src.Path {
			t.Errorf("file %d: offsets topic has %+v, want offset %d", f, e, lines*lineLen)
		}
		if got := p.cc.next[src]; got != lines {
			t.Errorf("file %d committed %d lines locally, want %d", f, got, lines)
		}
	}
	if st := p.out.Stats(); st.TxnCommitted == 0 || st.Acked != files*lines || st.Inflight != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A new output with the same transactional id reads the positions back:
// its own (the last of each file), not another agent's, and not a
// forgotten file's.
func TestTransactionRestore(t *testing.T) {
	kc := kafkatest.Start(t)
	p := startPipeline(t, kc, kc.Gate(nil), 2, txnCfg("agent-1"))
	p.feed(t, 0, 500)
	p.stop(t)
	other := startPipeline(t, kc, kc.Gate(nil), 2, txnCfg("agent-2"))
	other.feed(t, 0, 100)
	other.stop(t)

	again := startPipeline(t, kc, kc.Gate(nil), 2, txnCfg("agent-1"))
	<-again.out.Restored()
	got := again.out.RestoredEntries()
	again.stop(t)
	if len(got) != 2 {
		t.Fatalf("restored %+v", got)
	}
	for _, src := range p.srcs {
		if e := got[src.ID]; e.Offset != 500*lineLen || e.Path != src.Path {
			t.Errorf("%s restored as %+v, want offset %d", src.ID, e, 500*lineLen)
		}
	}
}

// A commit that fails makes the output start a new producer (which ends
// the open transaction) and send the batches again: a read_committed
// consumer sees every line once, a read_uncommitted one sees the aborted
// first copies too, so the fault did happen.
func TestAbortedTransactionInvisible(t *testing.T) {
	kc := kafkatest.Start(t)
	failed := 0
	kc.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if failed > 0 || !req.(*kmsg.EndTxnRequest).Commit {
			return nil, nil, false
		}
		failed++
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.SetVersion(req.GetVersion())
		resp.ErrorCode = kerr.InvalidTxnState.Code
		return resp, nil, true
	})
	const lines = 2000
	p := startPipeline(t, kc, kc.Gate(nil), 1, txnCfg("agent-1"))
	<-p.out.Restored() // the start marker's commit is not failed
	failed = 0
	p.feed(t, 0, lines)
	p.stop(t)
	if failed == 0 {
		t.Fatal("no commit was failed")
	}
	consumeExactlyOnce(t, kc.Addr, "logs", lines, rawValue, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	all := 0
	for _, r := range kafkatest.All(t, kc.Addr) {
		if r.Topic == "logs" {
			all++
		}
	}
	if all <= lines {
		t.Fatalf("read_uncommitted sees %d records: no aborted records, so no abort happened", all)
	}
	if st := p.out.Stats(); st.TxnCommitted == 0 {
		t.Errorf("stats %+v", st)
	}
}

// In a transaction, an event Kafka will never take (too large) is dead
// lettered before the commit and does not poison it: the rest arrive once
// for a read_committed consumer, the file's offset moves past it.
func TestTransactionDeadLetter(t *testing.T) {
	kc := kafkatest.Start(t)
	k := txnCfg("agent-1")
	k.Codec = config.CodecJSON
	k.MaxMessageBytes = 1000
	k.DeadLetter.Path = filepath.Join(t.TempDir(), "dead", "letter.ndjson")
	st, _ := runPolicy(t, kc, k, 200)
	if st.DeadLettered[ReasonTooLarge] != 20 || len(st.Dropped) != 0 || st.TxnCommitted == 0 || st.TxnAborted != 0 {
		t.Fatalf("stats %+v", st)
	}
	consumeExactlyOnce(t, kc.Addr, "logs", 180, func(r *kgo.Record) string { return kafkatest.JSONMessage(r.Value) }, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if recs := readDeadLetters(t, k.DeadLetter.Path); len(recs) != 20 {
		t.Fatalf("%d dead letters, want 20", len(recs))
	}
}

// Routing by topic rules, keys, headers and compression work in a
// transaction as outside one.
func TestTransactionRouting(t *testing.T) {
	kc := kafkatest.Start(t)
	k := txnCfg("agent-1")
	k.Codec = config.CodecJSON
	k.Compression = "gzip"
	k.Key = "%{[log.file.path]}"
	k.Headers = []config.Header{{Key: "origin", Value: "logship"}}
	k.Topics = []config.TopicRule{{Topic: "odd", When: config.Condition{Regexp: map[string]string{"message": `[13579]$`}}}}
	p := startPipeline(t, kc, nil, 2, k) // compressed: no gate
	p.feed(t, 0, 1000)
	p.stop(t)
	check := func(topic string, want int) {
		recs := consumeExactlyOnce(t, kc.Addr, topic, want, func(r *kgo.Record) string { return kafkatest.JSONMessage(r.Value) }, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		for _, r := range recs {
			if !strings.HasPrefix(string(r.Key), "/logs/f0") || len(r.Headers) != 1 || r.Headers[0].Key != "origin" {
				t.Fatalf("%s record key %q headers %v", topic, r.Key, r.Headers)
			}
		}
	}
	check("odd", 1000)
	check("logs", 1000)
}

// A missing offsets topic the broker will not create is a clear error
// saying how to create it, retried (nothing is shipped meanwhile).
func TestOffsetsTopicNotCreatable(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		return refuseTopics(req.(*kmsg.CreateTopicsRequest), kerr.TopicAuthorizationFailed), nil, true
	})
	k := txnCfg("agent-1")
	k.Hosts = []string{kc.Addr}
	logs := connectErr(t, k, "create it compacted")
	for _, want := range []string{"offsets topic logship-offsets is missing and could not be created", "kafka-topics.sh --create --topic logship-offsets", "cleanup.policy=compact"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// A broker before Kafka 2.4 refuses a topic created with replication factor
// -1 ("the broker's default"): the offsets topic is created with the
// brokers' default.replication.factor, at most the brokers alive, and
// exactly_once starts (it used to retry forever, shipping nothing).
func TestOffsetsTopicCreatedOnKafkaBefore24(t *testing.T) {
	kc := kafkatest.Start(t)
	var asked atomic.Int32
	kc.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		creq := req.(*kmsg.CreateTopicsRequest)
		for _, tp := range creq.Topics {
			asked.Store(int32(tp.ReplicationFactor))
		}
		for _, tp := range creq.Topics {
			if tp.ReplicationFactor >= 1 {
				continue
			}
			return refuseTopics(creq, kerr.InvalidReplicationFactor), nil, true
		}
		return nil, nil, false // kfake creates it
	})
	p := startPipeline(t, kc, nil, 1, txnCfg("agent-24"))
	select {
	case <-p.out.Restored():
	case <-time.After(30 * time.Second):
		t.Fatalf("exactly_once did not start: the offsets topic was asked with replication factor %d", asked.Load())
	}
	if rf := asked.Load(); rf != 1 {
		t.Fatalf("offsets topic asked with replication factor %d, want 1 (one broker alive)", rf)
	}
	p.feed(t, 0, 100)
	p.stop(t)
	consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
}

// An agent reads back its own positions only: not those of an agent whose
// transactional id starts with its own and goes on with a "/", even on the
// same partition of the offsets topic (ids were matched by prefix).
func TestRestoreReadsItsOwnIDOnly(t *testing.T) {
	kc := kafkatest.Start(t)
	other := ""
	for i := 0; other == ""; i++ {
		if id := fmt.Sprintf("agent/%d", i); offsetsPartition(id, offsetsTopicPartitions) == offsetsPartition("agent", offsetsTopicPartitions) {
			other = id
		}
	}
	first := startPipeline(t, kc, nil, 2, txnCfg(other))
	<-first.out.Restored()
	first.feed(t, 0, 50)
	first.stop(t)
	if n := len(first.out.RestoredEntries()); n != 0 {
		t.Fatalf("%s restored %d entries on a first start", other, n)
	}
	second := startPipeline(t, kc, nil, 1, txnCfg("agent"))
	select {
	case <-second.out.Restored():
	case <-time.After(30 * time.Second):
		t.Fatal("no restore")
	}
	if got := second.out.RestoredEntries(); len(got) != 0 {
		t.Fatalf("agent restored %d entries of %s: %+v", len(got), other, got)
	}
	second.stop(t)
}

// A batch of skipped lines only (lines filtered out, a truncation's restart,
// a copy's start) moves its files' positions in the offsets topic too, in a
// transaction: with exactly_once Kafka's positions win at the next start,
// and a position committed only locally was moved back there, so the lines
// after it were sent again.
func TestSkipOnlyBatchReachesTheOffsetsTopic(t *testing.T) {
	kc := kafkatest.Start(t)
	p := startPipeline(t, kc, nil, 1, txnCfg("agent-skip"))
	<-p.out.Restored()
	p.feed(t, 0, 10)
	src := p.srcs[0]
	offsetEntries(t, kc.Addr, "logship-offsets", "agent-skip", func(m map[string]registry.Entry) bool { return m[src.ID].Offset == 10*lineLen })
	// The lines are committed: the skipped ones make a batch of their own.
	end := int64(10*lineLen + 5000)
	p.sp.In() <- &event.Chunk{Events: []event.Event{{Source: src, Skip: true, Offset: int64(10 * lineLen), End: end,
		Flags: event.FlagCommit, Commit: fileid.Position{Offset: end, TailLen: fileid.TailNewline}}}}
	p.stop(t)
	entries := offsetEntries(t, kc.Addr, "logship-offsets", "agent-skip", func(m map[string]registry.Entry) bool { return m[src.ID].Offset == end })
	if e := entries[src.ID]; e.Offset != end {
		t.Fatalf("offsets topic has %s at %d, want %d (past the skipped lines)", src.Path, e.Offset, end)
	}
}

// refuseTopics is a broker's answer refusing every topic of req with err.
func refuseTopics(req *kmsg.CreateTopicsRequest, err *kerr.Error) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	resp.SetVersion(req.GetVersion())
	for _, tp := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.ErrorCode = tp.Topic, err.Code
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// A commit whose outcome the producer never learns: the broker commits it,
// every answer to EndTxn is lost until sarama gives up, and the abort that
// follows is refused (the transaction is over). The output starts a new
// producer, reads the positions back, finds the transaction committed by
// its sequence number and does not send it again. The file grew past its
// fingerprint in the meantime, as a file under 1 KiB does: comparing
// fingerprints said "not committed", and its lines arrived twice.
func TestUncertainCommitFoundCommitted(t *testing.T) {
	kc := kafkatest.Start(t)
	var armed atomic.Bool
	var behind atomic.Int32 // 1 while the broker commits behind the producer's back, 2 after
	var lostAnswers, abortsRefused atomic.Int64
	var p *pipeline
	kc.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		switch {
		case !armed.Load() || behind.Load() == 1: // not yet, or the commit behind the producer's back
		case r.Commit && behind.CompareAndSwap(0, 1):
			// The broker commits (a request of its own, the same
			// producer and epoch), the answer is lost.
			again := *r
			var resp kmsg.Response
			var err error
			kc.SleepControl(func() {
				// At the producer's request version: a newer one
				// would make the broker bump the epoch.
				vs := kversion.Stable()
				vs.SetMaxKeyVersion(int16(kmsg.EndTxn), r.Version)
				cl, cerr := kgo.NewClient(kgo.SeedBrokers(kc.Addr), kgo.MaxVersions(vs))
				if cerr != nil {
					err = cerr
					return
				}
				defer cl.Close()
				resp, err = cl.Request(context.Background(), &again)
			})
			if err != nil || kerr.ErrorForCode(resp.(*kmsg.EndTxnResponse).ErrorCode) != nil {
				t.Errorf("committing behind the producer's back: %v %+v", err, resp)
			}
			// The file grows past its fingerprint's length.
			p.srcs[0].Fingerprint.Store(fileid.FingerprintValue{Hash: 99, Len: 1024})
			behind.Store(2)
			return nil, errors.New("the answer is lost"), true
		case r.Commit && abortsRefused.Load() == 0:
			lostAnswers.Add(1) // sarama tries again, until it gives up
			return nil, errors.New("the answer is lost"), true
		case !r.Commit && behind.Load() == 2:
			abortsRefused.Add(1) // the broker refuses it: the transaction is over
		}
		return nil, nil, false
	})
	const lines = 5
	cfg := txnCfg("agent-1")
	p = startPipeline(t, kc, kc.Gate(nil), 1, cfg)
	<-p.out.Restored()
	armed.Store(true)
	p.feed(t, 0, lines)
	p.stop(t)
	if behind.Load() != 2 || lostAnswers.Load() == 0 || abortsRefused.Load() == 0 {
		t.Fatalf("the fault did not happen: commit behind the producer's back %d (want 2), %d answers lost, %d aborts refused",
			behind.Load(), lostAnswers.Load(), abortsRefused.Load())
	}
	consumeExactlyOnce(t, kc.Addr, "logs", lines, rawValue, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if st := p.out.Stats(); st.TxnFoundCommitted != 1 {
		t.Errorf("%d transactions found committed after the fact, want 1 (stats %+v)", st.TxnFoundCommitted, st)
	}
}

// An offsets record is the registry entry with the transaction's sequence
// number beside its fields; a record written before sequence numbers reads
// as number 0.
func TestOffsetsRecordCodec(t *testing.T) {
	r := offsetsRecord{Entry: registry.Entry{ID: "1:2", Path: "/a.log", Offset: 640, Fingerprint: 7, FingerprintLen: 640}, TxnSeq: 42}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var e registry.Entry
	if err := json.Unmarshal(data, &e); err != nil || e.ID != "1:2" || e.Offset != 640 || e.Fingerprint != 7 {
		t.Fatalf("%s read as an entry: %+v, %v", data, e, err)
	}
	var back offsetsRecord
	if err := json.Unmarshal(data, &back); err != nil || back.TxnSeq != 42 || back.Offset != 640 {
		t.Fatalf("%s read back as %+v, %v", data, back, err)
	}
	var old offsetsRecord
	if err := json.Unmarshal([]byte(`{"id":"1:2","path":"/a.log","offset":64}`), &old); err != nil || old.TxnSeq != 0 || old.Offset != 64 {
		t.Fatalf("a record without a sequence number: %+v, %v", old, err)
	}
}

// A transaction the broker aborted at transaction_timeout (its commit held
// back longer) is not fencing: the output starts a new producer and sends
// the batches again, and every line arrives once. Kafka answers such a
// commit as it answers a fenced producer, and the output stopped as fenced.
func TestTransactionTimeoutIsNotFencing(t *testing.T) {
	kc := kafkatest.Start(t)
	var armed atomic.Bool
	var timedOut atomic.Int64
	kc.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if !armed.Load() || !r.Commit || timedOut.Load() > 0 {
			return nil, nil, false
		}
		// The commit waits until the broker has aborted the transaction
		// at its timeout, which bumps the producer's epoch.
		kc.SleepControl(func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Addr))
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			for ctx := t.Context(); ctx.Err() == nil; {
				describe := kmsg.NewPtrDescribeTransactionsRequest()
				describe.TransactionalIDs = []string{r.TransactionalID}
				resp, err := describe.RequestWith(ctx, cl)
				if err == nil && len(resp.TransactionStates) == 1 && resp.TransactionStates[0].ProducerEpoch > r.ProducerEpoch {
					timedOut.Add(1)
					return
				}
				time.Sleep(20 * time.Millisecond) // polls the broker's state
			}
		})
		return nil, nil, false
	})
	const lines = 500
	cfg := txnCfg("agent-1")
	cfg.TransactionTimeout = config.Duration(time.Second)
	p := startPipeline(t, kc, kc.Gate(nil), 1, cfg)
	<-p.out.Restored()
	armed.Store(true)
	p.feed(t, 0, lines)
	p.stop(t)
	if timedOut.Load() == 0 {
		t.Fatal("no transaction was aborted at its timeout: the fault did not happen")
	}
	consumeExactlyOnce(t, kc.Addr, "logs", lines, rawValue, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if st := p.out.Stats(); st.Fenced {
		t.Errorf("the output took the timeout for fencing: %+v", st)
	}
}

// createOffsetsTopic creates topic on kc with partitions and cleanup.policy.
func createOffsetsTopic(t *testing.T, kc *kafkatest.Cluster, topic string, partitions int32, policy string) {
	t.Helper()
	cl := adminClient(t, kc)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "cleanup.policy", &policy
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// An offsets topic whose retention deletes records (cleanup.policy=delete)
// is refused, at start and by `test output` alike, with the reason and the
// fix; the output does not start. It used to be used silently.
func TestOffsetsTopicNotCompactedRefused(t *testing.T) {
	kc := kafkatest.Start(t)
	createOffsetsTopic(t, kc, "logship-offsets", 3, "delete")
	k := txnCfg("agent-1")
	k.Hosts = []string{kc.Addr}
	out, err := New(k, "h", testLog)
	if err != nil {
		t.Fatal(err)
	}
	err = out.Run(t.Context())
	const want = "logship-offsets has cleanup.policy=delete, so retention deletes file positions"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--add-config cleanup.policy=compact") {
		t.Fatalf("Run returned %v, want an error saying %q and how to fix it", err, want)
	}
	var report strings.Builder
	if err := Check(t.Context(), k, &report); err == nil || !strings.Contains(report.String(), want) {
		t.Fatalf("test output: %v\n%s", err, report.String())
	}
}

// The offsets topic grew from 3 to 7 partitions after an agent wrote its
// positions: the partition it writes is chosen by the count, so a start
// read another, empty one and found no positions ("match the registry",
// files=0). Now a start that finds none while the registry knows files
// looks in the other partitions, finds them, and writes them again to its
// own partition, where the next start finds them at once.
func TestOffsetsTopicPartitionsGrown(t *testing.T) {
	kc := kafkatest.Start(t)
	createOffsetsTopic(t, kc, "logship-offsets", 3, "compact")
	id := "agent-0"
	for i := 0; offsetsPartition(id, 3) == offsetsPartition(id, 7); i++ {
		id = fmt.Sprintf("agent-%d", i) // one whose partition moves
	}
	p := startPipeline(t, kc, kc.Gate(nil), 2, txnCfg(id))
	p.feed(t, 0, 500)
	p.stop(t)

	cl := adminClient(t, kc)
	grow := kmsg.NewPtrCreatePartitionsRequest()
	gt := kmsg.NewCreatePartitionsRequestTopic()
	gt.Topic, gt.Count = "logship-offsets", 7
	grow.Topics = append(grow.Topics, gt)
	if resp, err := grow.RequestWith(t.Context(), cl); err != nil || kerr.ErrorForCode(resp.Topics[0].ErrorCode) != nil {
		t.Fatalf("grow the offsets topic: %v %+v", err, resp)
	}

	for run := range 2 { // found elsewhere and moved, then found at home
		cfg := txnCfg(id)
		cfg.Hosts = []string{kc.Addr}
		out, err := New(cfg, "h", testLog)
		if err != nil {
			t.Fatal(err)
		}
		out.ExpectFiles(2)
		done := make(chan error, 1)
		go func() { done <- out.Run(t.Context()) }()
		select {
		case <-out.Restored():
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d: no restore", run)
		}
		got := out.RestoredEntries()
		part := out.offsetsPart
		out.Close()
		if err := <-done; err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if part != offsetsPartition(id, 7) {
			t.Fatalf("run %d wrote partition %d, want %d", run, part, offsetsPartition(id, 7))
		}
		for _, src := range p.srcs {
			if e := got[src.ID]; e.Offset != 500*lineLen {
				t.Errorf("run %d: %s restored as %+v, want offset %d", run, src.ID, e, 500*lineLen)
			}
		}
	}
	// The second start found them in its own partition: moved records are there.
	moved := 0
	for _, r := range kafkatest.All(t, kc.Addr) {
		if r.Topic == "logship-offsets" && r.Partition == offsetsPartition(id, 7) && !strings.HasSuffix(string(r.Key), "/start") {
			moved++
		}
	}
	if moved != 2 {
		t.Fatalf("%d records of files in the new partition, want the 2 moved", moved)
	}
}

// Another producer's open transaction on this agent's partition of the
// offsets topic holds the restore back (read_committed stops there): the
// wait is logged, and given up after twice transaction_timeout, to be
// tried again. It used to wait without limit and without a word.
func TestRestoreBehindAnOpenTransactionIsBounded(t *testing.T) {
	kc := kafkatest.Start(t)
	createOffsetsTopic(t, kc, "logship-offsets", 12, "compact")
	part := offsetsPartition("agent-1", 12)
	other, err := kgo.NewClient(kgo.SeedBrokers(kc.Addr), kgo.TransactionalID("another-agent"),
		kgo.TransactionTimeout(time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := other.ProduceSync(t.Context(), &kgo.Record{Topic: "logship-offsets", Partition: part, Key: []byte("another-agent/1:2"), Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The transaction stays open for the whole test.
	k := txnCfg("agent-1")
	k.Hosts = []string{kc.Addr}
	k.TransactionTimeout = config.Duration(time.Second)
	logs := connectErr(t, k, "reading the file positions from kafka failed, retrying")
	for _, want := range []string{"still reading the file positions from kafka", "the start marker was not read within 2s"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// A file the registry forgot (Forget) has its record deleted from the
// offsets topic in the next transaction (a tombstone, the last record of
// its key), so a restart does not read it back; the other files' records
// stay. Nothing ever deleted them before.
func TestForgottenFileTombstoned(t *testing.T) {
	kc := kafkatest.Start(t)
	p := startPipeline(t, kc, kc.Gate(nil), 2, txnCfg("agent-1"))
	<-p.out.Restored()
	p.feed(t, 0, 100)
	gone := p.srcs[0]
	gone.Forgotten.Store(true) // as the registry's Remove does
	p.out.Forget(gone.ID)
	p.feed(t, 100, 200) // transactions after the forgetting, with lines of it in flight
	p.stop(t)
	var last *kgo.Record
	for _, r := range kafkatest.All(t, kc.Addr) {
		if r.Topic == "logship-offsets" && string(r.Key) == "agent-1/"+gone.ID {
			last = r
		}
	}
	if last == nil || last.Value != nil {
		t.Fatalf("the forgotten file's last record is %+v, want a tombstone", last)
	}
	again := startPipeline(t, kc, kc.Gate(nil), 2, txnCfg("agent-1"))
	<-again.out.Restored()
	got := again.out.RestoredEntries()
	again.stop(t)
	if _, ok := got[gone.ID]; ok || got[p.srcs[1].ID].Offset != 200*lineLen {
		t.Fatalf("restored %+v: want only %s, at %d", got, p.srcs[1].ID, 200*lineLen)
	}
}

// adminClient is a kgo client of kc for raw requests, closed with t.
func adminClient(t *testing.T, kc *kafkatest.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
