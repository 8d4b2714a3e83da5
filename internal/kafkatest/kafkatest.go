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

// Start runs a kfake broker on a loopback port the kernel chooses, closed
// when the test ends.
func Start(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	return StartOn(t, 0, opts...)
}

// StartOn runs a kfake broker on port (0: one the kernel chooses); with
// kfake.DataDir a broker closed and started again on the same port (see
// Port) keeps its records.
func StartOn(t testing.TB, port int, opts ...kfake.Opt) *Cluster {
	t.Helper()
	return start(t, []int{port}, append([]kfake.Opt{kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3)}, opts...))
}

// StartBrokers runs a cluster of n kfake brokers on loopback ports the
// kernel chooses (kfake.NumBrokers alone does not: one port makes one
// broker); Addr is the first broker's.
func StartBrokers(t testing.TB, n int, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c := start(t, make([]int, n), append([]kfake.Opt{kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3)}, opts...))
	if got := len(c.ListenAddrs()); got != n {
		t.Fatalf("kfake runs %d brokers, want %d", got, n)
	}
	return c
}

// StartStrict runs a kfake broker that creates no topic on its own.
func StartStrict(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	return start(t, []int{0}, opts)
}

// start binds the brokers' ports itself (kfake listens on them at once):
// no port is picked first and bound later, which another test could take
// in between.
func start(t testing.TB, ports []int, opts []kfake.Opt) *Cluster {
	t.Helper()
	acks := NewAcks()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.Ports(ports...), kfake.ListenFn(acks.listen)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Addr: c.ListenAddrs()[0], Acks: acks}
}

// Port is the first broker's port: where a broker restarted with StartOn
// must listen for clients to find it again.
func (c *Cluster) Port() int {
	_, p, _ := net.SplitHostPort(c.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// FreePort returns a loopback TCP port that was free a moment ago. Only for
// a listener the test cannot open itself: another process may take the port
// before it is bound.
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
