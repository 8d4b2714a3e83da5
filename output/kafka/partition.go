package kafka

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/IBM/sarama"

	"github.com/logship/logship/config"
)

// newPartitioner returns sarama's partitioner constructor for the strategy.
// Every strategy sends a re-sent message to the partition it went to first.
func newPartitioner(p config.Partition) sarama.PartitionerConstructor {
	switch {
	case p.RoundRobin != nil:
		return func(string) sarama.Partitioner { return pinned{new(roundRobin)} }
	case p.Random != nil:
		return func(string) sarama.Partitioner { return pinned{randomPartitioner{}} }
	default:
		return func(string) sarama.Partitioner { return pinned{new(murmur2Partitioner)} }
	}
}

// pinned sends a message logship re-sends to the partition it was sent to
// before (sarama partitions a returned message again), so that a re-sent
// batch does not scatter and its partition's order holds.
type pinned struct{ sarama.Partitioner }

// pinnedTo is the partition a re-sent message keeps, if any.
func pinnedTo(m *sarama.ProducerMessage) (int32, bool) {
	meta, ok := m.Metadata.(*msgMeta)
	if !ok || meta.partition < 0 || meta.attempts == 0 && !meta.pin {
		return 0, false
	}
	return meta.partition, true
}

func (p pinned) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	part, ok := pinnedTo(m)
	switch {
	case ok && part < n:
		return part, nil // all partitions, in order (MessageRequiresConsistency)
	case ok && m.Metadata.(*msgMeta).pin:
		// A record that must go to its partition (exactly_once's offsets
		// records, read back from that partition only) is never sent
		// elsewhere: the metadata does not show the partition yet (a
		// topic just created), and the transaction is tried again.
		return 0, fmt.Errorf("partition %d of %s is not in the metadata (%d partitions): not sent elsewhere", part, m.Topic, n)
	}
	return p.Partitioner.Partition(m, n)
}

// MessageRequiresConsistency makes sarama offer a pinned message every
// partition, so that its index is its number.
func (p pinned) MessageRequiresConsistency(m *sarama.ProducerMessage) bool {
	if _, ok := pinnedTo(m); ok {
		return true
	}
	if d, ok := p.Partitioner.(sarama.DynamicConsistencyPartitioner); ok {
		return d.MessageRequiresConsistency(m)
	}
	return p.RequiresConsistency()
}

// murmur2Partitioner puts keyed records where Kafka's Java clients put them:
// murmur2 of the key, made positive, modulo the partition count. Records
// without a key stick to one partition per batch, the next batch to the
// next partition, as Kafka's own sticky partitioner does: a produce
// request then carries a few large record batches rather than a small one
// for every partition, which costs less CPU on both ends.
type murmur2Partitioner struct{ next atomic.Uint32 }

func (p *murmur2Partitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if m.Key == nil {
		return sticky(m, n, &p.next), nil
	}
	key, err := m.Key.Encode()
	if err != nil {
		return -1, err
	}
	return int32(murmur2(key)&0x7fffffff) % n, nil
}

func (*murmur2Partitioner) RequiresConsistency() bool { return true }

// MessageRequiresConsistency: a keyed record goes where its key says, a
// keyless one to any partition that takes writes.
func (*murmur2Partitioner) MessageRequiresConsistency(m *sarama.ProducerMessage) bool {
	return m.Key != nil
}

// sticky is the partition of the batch m is in, chosen for its first
// record, round robin, among the n offered.
func sticky(m *sarama.ProducerMessage, n int32, next *atomic.Uint32) int32 {
	meta, ok := m.Metadata.(*msgMeta)
	if !ok {
		return rand.Int32N(n)
	}
	if p := meta.batch.partition.Load(); p >= 0 && p < n {
		return p
	}
	p := int32(next.Add(1) % uint32(n))
	meta.batch.partition.Store(p)
	return p
}

type roundRobin struct{ next atomic.Uint32 }

func (r *roundRobin) Partition(_ *sarama.ProducerMessage, n int32) (int32, error) {
	return int32((r.next.Add(1) - 1) % uint32(n)), nil
}

func (*roundRobin) RequiresConsistency() bool { return false }

type randomPartitioner struct{}

func (randomPartitioner) Partition(_ *sarama.ProducerMessage, n int32) (int32, error) {
	return rand.Int32N(n), nil
}

func (randomPartitioner) RequiresConsistency() bool { return false }

// murmur2 is Kafka's variant of MurmurHash2 (seed 0x9747b28c), as in its
// Java client's Utils.murmur2.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
