package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Restoring exactly_once's positions from offsets_topic (see txn.go).

// connectAndRestore connects a transactional producer (retrying until it
// works), makes sure offsets_topic exists, and reads this agent's
// positions back from it, with the highest transaction sequence number.
func (o *Output) connectAndRestore(ctx context.Context) (sarama.AsyncProducer, sarama.Client, Restored, uint64, error) {
	for attempt := 1; ; attempt++ {
		p, cl, err := o.connect(ctx)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		restored, seq, err := o.restore(ctx, p, cl)
		if err == nil {
			return p, cl, restored, seq, nil
		}
		p.Close()
		cl.Close()
		if isFenced(err) {
			return nil, nil, nil, 0, o.fencedError(err)
		}
		if errors.Is(err, errOffsetsTopic) {
			return nil, nil, nil, 0, err
		}
		if o.closing(ctx) {
			// Stopped (a reload, a shutdown) while reading: not a failure.
			return nil, nil, nil, 0, fmt.Errorf("output closed while reading the file positions: %w", err)
		}
		wait := o.retryBackoff(attempt) // retry.backoff doubling to retry.max_backoff, as the README says
		o.log.Warn("reading the file positions from kafka failed, retrying", "offsets_topic", o.cfg.OffsetsTopic, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, nil, nil, 0, ctx.Err()
		case <-o.stop:
			return nil, nil, nil, 0, errors.New("output closed before connecting")
		case <-time.After(wait):
		}
	}
}

// closing reports whether the output is being closed or its context is done.
func (o *Output) closing(ctx context.Context) bool {
	select {
	case <-o.stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// restore reads this agent's entries from offsets_topic, up to a marker it
// commits first: everything committed before it is then read. It returns
// the highest transaction sequence number read too.
func (o *Output) restore(ctx context.Context, p sarama.AsyncProducer, cl sarama.Client) (Restored, uint64, error) {
	created, err := o.ensureOffsetsTopic(cl)
	if err != nil {
		return nil, 0, err
	}
	parts, err := cl.Partitions(o.cfg.OffsetsTopic)
	if err != nil {
		return nil, 0, fmt.Errorf("offsets topic %s: %w", o.cfg.OffsetsTopic, err)
	}
	if created && len(parts) != offsetsTopicPartitions {
		// The partition is chosen by the count: one taken from metadata
		// that does not show the whole new topic yet would be another
		// partition than every later start reads.
		return nil, 0, fmt.Errorf("offsets topic %s was just created with %d partitions and the metadata shows %d; trying again", o.cfg.OffsetsTopic, offsetsTopicPartitions, len(parts))
	}
	o.offsetsPart = offsetsPartition(o.cfg.TransactionalID, int32(len(parts)))
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	if err := o.commitRecords(p, "the start marker", []*sarama.ProducerMessage{o.marker(o.offsetsPart, nonce)}); err != nil {
		return nil, 0, err
	}
	restored, seq, err := o.readPositions(ctx, cl, o.offsetsPart, nonce)
	if err != nil || len(restored) > 0 || o.expect == 0 || len(parts) == 1 {
		return restored, seq, err
	}
	// The registry knows files and Kafka nothing of them where this
	// agent writes: the topic's partition count changed (the partition
	// is chosen by it), so the records are in another partition.
	return o.findMoved(ctx, p, cl, parts, nonce)
}

// findMoved reads this agent's records from every partition of
// offsets_topic but its own, and when it finds some (the partition count
// changed since they were written), writes them again to its own
// partition, where the next start finds them.
func (o *Output) findMoved(ctx context.Context, p sarama.AsyncProducer, cl sarama.Client, parts []int32, nonce string) (Restored, uint64, error) {
	var markers []*sarama.ProducerMessage
	for _, part := range parts {
		if part != o.offsetsPart {
			markers = append(markers, o.marker(part, nonce))
		}
	}
	if err := o.commitRecords(p, "the start markers", markers); err != nil {
		return nil, 0, err
	}
	found, seq := Restored{}, uint64(0)
	var where []int32
	for _, m := range markers {
		r, s, err := o.readPositions(ctx, cl, m.Partition, nonce)
		if err != nil {
			return nil, 0, err
		}
		if len(r) > 0 {
			where = append(where, m.Partition)
		}
		maps.Copy(found, r) // one partition holds them; several only if the count changed more than once
		seq = max(seq, s)
	}
	if len(found) == 0 {
		return found, seq, nil
	}
	var moved []*sarama.ProducerMessage
	for _, e := range found {
		value, err := json.Marshal(offsetsRecord{Entry: e, TxnSeq: seq})
		if err != nil {
			continue // an Entry always encodes
		}
		moved = append(moved, o.offsetsMessage(o.offsetsPart, e.ID, value))
	}
	if err := o.commitRecords(p, "the moved file positions", moved); err != nil {
		return nil, 0, err
	}
	o.log.Warn("file positions found in other partitions of the offsets topic (its partition count changed since they were written); moved to this agent's partition",
		"offsets_topic", o.cfg.OffsetsTopic, "files", len(found), "found_in", where, "partition", o.offsetsPart, "partitions", len(parts))
	return found, seq, nil
}

// marker is a start marker for partition part of offsets_topic: read back
// there, it ends what this start reads.
func (o *Output) marker(part int32, nonce string) *sarama.ProducerMessage {
	return o.offsetsMessage(part, "start", []byte(nonce))
}

// commitRecords produces msgs in one transaction of p, before p is the
// Output's (its results are read here, as the commit waits for them).
func (o *Output) commitRecords(p sarama.AsyncProducer, what string, msgs []*sarama.ProducerMessage) error {
	result := make(chan error, 1)
	go func() {
		var errs []error
		for range msgs {
			select {
			case <-p.Successes():
			case pe := <-p.Errors():
				errs = append(errs, pe.Err)
			}
		}
		result <- errors.Join(errs...)
	}()
	if err := p.BeginTxn(); err != nil {
		return err
	}
	for _, m := range msgs {
		p.Input() <- m
	}
	if err := errors.Join(p.CommitTxn(), <-result); err != nil {
		return fmt.Errorf("commit %s: %w", what, err)
	}
	return nil
}

// readPositions reads this agent's records in partition part of
// offsets_topic from its start, read_committed, until the marker with
// nonce.
func (o *Output) readPositions(ctx context.Context, cl sarama.Client, part int32, nonce string) (Restored, uint64, error) {
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		return nil, 0, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(o.cfg.OffsetsTopic, part, sarama.OffsetOldest)
	if err != nil {
		return nil, 0, fmt.Errorf("read offsets topic %s: %w", o.cfg.OffsetsTopic, err)
	}
	defer pc.Close()
	prefix, marker := o.keyPrefix(), o.keyPrefix()+"start"
	out := Restored{}
	var seq uint64
	// read_committed stops at the first open transaction on the
	// partition: another agent's (sharing it) holds the marker back until
	// it ends, by its transaction timeout at the latest. The wait is
	// logged, and bounded by twice that.
	began, last := time.Now(), int64(-1)
	limit := 2 * o.cfg.TransactionTimeout.D()
	tick := time.NewTicker(min(10*time.Second, limit/4))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			waited := time.Since(began)
			if waited >= limit {
				return nil, 0, fmt.Errorf("partition %d of %s: the start marker was not read within %s (read to offset %d of %d): an open transaction on the partition holds read_committed readers back",
					part, o.cfg.OffsetsTopic, limit, last, pc.HighWaterMarkOffset())
			}
			o.log.Warn("still reading the file positions from kafka; an open transaction on the partition (another agent's, or one a crash left) holds them back until it ends",
				"offsets_topic", o.cfg.OffsetsTopic, "partition", part, "read_to", last, "high_water_mark", pc.HighWaterMarkOffset(),
				"waited", waited.Round(time.Second), "gives_up_after", limit)
		case m := <-pc.Messages():
			last = m.Offset
			key := string(m.Key)
			switch {
			case key == marker:
				if string(m.Value) == nonce {
					return out, seq, nil
				}
			case !strings.HasPrefix(key, prefix) || strings.Contains(key[len(prefix):], "/"):
				// another agent's: its id differs, or only starts like
				// this one's and goes on with a "/" (file ids have none)
			case m.Value == nil: // a file forgotten
				delete(out, strings.TrimPrefix(key, prefix))
			default:
				var r offsetsRecord
				if err := json.Unmarshal(m.Value, &r); err != nil {
					o.log.Warn("offsets topic record not understood; skipped", "key", key, "offset", m.Offset, "err", err)
					continue
				}
				seq = max(seq, r.TxnSeq)
				if key != prefix+seqKey {
					out[r.ID] = r.Entry
				}
			}
		case err := <-pc.Errors():
			return nil, 0, fmt.Errorf("read offsets topic %s: %w", o.cfg.OffsetsTopic, err)
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-o.stop:
			return nil, 0, errors.New("output closed")
		}
	}
}

// offsetsPartition is the partition of offsets_topic one agent writes: all
// of its records in one, read back from one.
func offsetsPartition(id string, n int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() % uint32(n))
}

func (o *Output) keyPrefix() string { return o.cfg.TransactionalID + "/" }

// offsetsTopicPartitions is how many partitions a created offsets_topic
// has: agents spread over them by transactional id.
const offsetsTopicPartitions = 12

// ensureOffsetsTopic creates offsets_topic, compacted, when it is missing,
// and reports whether it did.
func (o *Output) ensureOffsetsTopic(cl sarama.Client) (bool, error) {
	if err := cl.RefreshMetadata(); err != nil {
		return false, err
	}
	topics, err := cl.Topics()
	if err != nil {
		return false, err
	}
	admin, err := sarama.NewClusterAdmin(o.cfg.Hosts, o.sc)
	if err != nil {
		return false, err
	}
	defer admin.Close()
	for _, t := range topics {
		if t == o.cfg.OffsetsTopic {
			return false, o.checkOffsetsTopic(admin)
		}
	}
	rf := replicationFactor(admin, cl)
	err = admin.CreateTopic(o.cfg.OffsetsTopic, offsetsTopicDetail(rf), false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return false, fmt.Errorf("offsets topic %s is missing and could not be created (%w); create it compacted, e.g. "+
			"kafka-topics.sh --create --topic %s --partitions %d --config cleanup.policy=compact", o.cfg.OffsetsTopic, err, o.cfg.OffsetsTopic, offsetsTopicPartitions)
	}
	o.log.Info("created the offsets topic", "topic", o.cfg.OffsetsTopic, "partitions", offsetsTopicPartitions, "replication_factor", rf, "cleanup.policy", "compact")
	return true, cl.RefreshMetadata(o.cfg.OffsetsTopic)
}

// replicationFactor is the replication factor a created offsets topic gets:
// the brokers' default.replication.factor, at most the brokers alive. An
// explicit factor, because Kafka before 2.4 refuses -1 ("the broker's
// default"). When the default cannot be read, min(3, brokers alive).
func replicationFactor(admin sarama.ClusterAdmin, cl sarama.Client) int16 {
	live := len(cl.Brokers())
	want := 3
	if ctrl, err := cl.Controller(); err == nil {
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource,
			Name: strconv.Itoa(int(ctrl.ID())), ConfigNames: []string{"default.replication.factor"}})
		if err == nil {
			for _, e := range entries {
				if n, err := strconv.Atoi(e.Value); err == nil && e.Name == "default.replication.factor" && n > 0 {
					want = n
				}
			}
		}
	}
	return int16(max(1, min(want, live)))
}

// errOffsetsTopic is a layout of offsets_topic that cannot keep file
// positions: the output stops rather than use it.
var errOffsetsTopic = errors.New("offsets topic unusable")

// checkOffsetsTopic refuses an offsets_topic whose records retention may
// delete (see offsetsTopicPolicy). A topic whose configuration cannot be
// read (no DescribeConfigs permission) is used, with a warning.
func (o *Output) checkOffsetsTopic(admin sarama.ClusterAdmin) error {
	err := offsetsTopicPolicy(admin, o.cfg.OffsetsTopic)
	if err != nil && !errors.Is(err, errOffsetsTopic) {
		o.log.Warn("the offsets topic's cleanup.policy could not be read; it must be compact", "offsets_topic", o.cfg.OffsetsTopic, "err", err)
		return nil
	}
	return err
}

// offsetsTopicPolicy checks that topic's cleanup.policy is compact, the
// only one that keeps the last record of every key for good: with delete
// (or compact,delete), retention deletes a file's position, and a restart
// that lost the registry ships the file again. It returns an error
// wrapping errOffsetsTopic for another policy, a plain one when the
// configuration cannot be read.
func offsetsTopicPolicy(admin sarama.ClusterAdmin, topic string) error {
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource,
		Name: topic, ConfigNames: []string{"cleanup.policy"}})
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name == "cleanup.policy" && e.Value != "compact" {
			return fmt.Errorf("%w: %s has cleanup.policy=%s, so retention deletes file positions; it must be compact only "+
				"(kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)",
				errOffsetsTopic, topic, e.Value, topic)
		}
	}
	return nil
}

// offsetsTopicDetail is how a created offsets_topic is laid out.
func offsetsTopicDetail(rf int16) *sarama.TopicDetail {
	// Kafka compacts closed segments only: the defaults (1 GiB, 7 days)
	// would leave a small topic uncompacted for a week, tombstones too.
	compact, segmentMs, segmentBytes := "compact", "3600000", "104857600"
	return &sarama.TopicDetail{NumPartitions: offsetsTopicPartitions, ReplicationFactor: rf,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact, "segment.ms": &segmentMs, "segment.bytes": &segmentBytes}}
}
