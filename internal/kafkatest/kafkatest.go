// Package kafkatest runs an in-process Kafka-protocol broker for tests and
// reads what arrived with an independent client (franz-go's kgo), so that
// logship's sarama-based output is checked against something other than
// itself.
package kafkatest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is a kfake cluster with its address, and what it acknowledged.
type Cluster struct {
	*kfake.Cluster
	Addr string
	Acks *Acks
}

// Start runs a kfake broker on a free loopback port, closed when the test ends.
func Start(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	return StartOn(t, FreePort(t), opts...)
}

// StartOn runs a kfake broker on port; with kfake.DataDir a broker closed
// and started again on the same port keeps its records.
func StartOn(t testing.TB, port int, opts ...kfake.Opt) *Cluster {
	t.Helper()
	acks := NewAcks()
	opts = append([]kfake.Opt{kfake.Ports(port), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3), kfake.ListenFn(acks.listen)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Addr: "127.0.0.1:" + strconv.Itoa(port), Acks: acks}
}

// StartBrokers runs a cluster of n kfake brokers on free loopback ports
// (kfake.NumBrokers alone does not: one port makes one broker); Addr is the
// first broker's.
func StartBrokers(t testing.TB, n int, opts ...kfake.Opt) *Cluster {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	acks := NewAcks()
	opts = append([]kfake.Opt{kfake.Ports(ports...), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3), kfake.ListenFn(acks.listen)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	if got := len(c.ListenAddrs()); got != n {
		t.Fatalf("kfake runs %d brokers, want %d", got, n)
	}
	return &Cluster{Cluster: c, Addr: "127.0.0.1:" + strconv.Itoa(ports[0]), Acks: acks}
}

// StartStrict runs a kfake broker that creates no topic on its own.
func StartStrict(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	port := FreePort(t)
	acks := NewAcks()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.Ports(port), kfake.ListenFn(acks.listen)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Addr: "127.0.0.1:" + strconv.Itoa(port), Acks: acks}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Consumer reads a topic from its start with kgo.
type Consumer struct {
	cl *kgo.Client
}

// NewConsumer starts a consumer of topic on addr, closed when the test ends;
// opts add to its options (SASL, TLS).
func NewConsumer(t testing.TB, addr, topic string, opts ...kgo.Opt) *Consumer {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return &Consumer{cl: cl}
}

// Poll returns the records that arrive within d (at least one poll).
func (c *Consumer) Poll(ctx context.Context, d time.Duration) []*kgo.Record {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	fs := c.cl.PollFetches(ctx)
	var out []*kgo.Record
	fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	return out
}

// Until polls, passing every record to each, until done returns true or the
// timeout passes; it reports whether done returned true.
func (c *Consumer) Until(ctx context.Context, timeout time.Duration, each func(*kgo.Record), done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		for _, r := range c.Poll(ctx, 500*time.Millisecond) {
			each(r)
		}
	}
	return true
}

// All reads every record of every topic, up to the end each partition has
// now: the records a finished run left, counted exactly. It reads
// uncommitted, so a transaction's aborted records are among them; control
// records (transaction markers) are not.
func All(t testing.TB, addr string, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	// Every offset up to the end is a record then, data or control: the
	// count is exact.
	opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl) // every topic, creating none
	if err != nil {
		t.Fatal(err)
	}
	lreq := kmsg.NewPtrListOffsetsRequest()
	for _, tp := range meta.Topics {
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = *tp.Topic
		for _, p := range tp.Partitions {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp = p.Partition, -1 // the end
			lt.Partitions = append(lt.Partitions, lp)
		}
		lreq.Topics = append(lreq.Topics, lt)
	}
	offs, err := lreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want, consume := 0, map[string]map[int32]kgo.Offset{}
	for _, tp := range offs.Topics {
		consume[tp.Topic] = map[int32]kgo.Offset{}
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				t.Fatalf("%s[%d]: %v", tp.Topic, p.Partition, err)
			}
			want += int(p.Offset)
			consume[tp.Topic][p.Partition] = kgo.NewOffset().AtStart()
		}
	}
	var out []*kgo.Record
	if want == 0 {
		return nil
	}
	cl.AddConsumePartitions(consume)
	for read := 0; read < want; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", read, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("%s[%d]: %v", topic, p, err) })
		for _, r := range fs.Records() {
			read++
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		}
	}
	return out
}
