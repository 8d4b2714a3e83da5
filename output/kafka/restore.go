package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
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
	marker := &sarama.ProducerMessage{Topic: o.cfg.OffsetsTopic, Key: sarama.StringEncoder(o.keyPrefix() + "start"),
		Value: sarama.StringEncoder(nonce), Partition: o.offsetsPart, Metadata: &msgMeta{partition: o.offsetsPart, pin: true}}
	// The producer is not yet Output's: its one result is read here, as
	// the commit waits for it to be taken.
	result := make(chan error, 1)
	go func() {
		select {
		case <-p.Successes():
			result <- nil
		case pe := <-p.Errors():
			result <- fmt.Errorf("produce the start marker: %w", pe.Err)
		}
	}()
	if err := p.BeginTxn(); err != nil {
		return nil, 0, err
	}
	p.Input() <- marker
	err = errors.Join(p.CommitTxn(), <-result)
	if err != nil {
		return nil, 0, fmt.Errorf("commit the start marker: %w", err)
	}
	return o.readPositions(ctx, cl, nonce)
}

// readPositions reads offsets_topic's partition of this agent from its
// start, read_committed, until the marker with nonce.
func (o *Output) readPositions(ctx context.Context, cl sarama.Client, nonce string) (Restored, uint64, error) {
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		return nil, 0, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(o.cfg.OffsetsTopic, o.offsetsPart, sarama.OffsetOldest)
	if err != nil {
		return nil, 0, fmt.Errorf("read offsets topic %s: %w", o.cfg.OffsetsTopic, err)
	}
	defer pc.Close()
	prefix, marker := o.keyPrefix(), o.keyPrefix()+"start"
	out := Restored{}
	var seq uint64
	for {
		select {
		case m := <-pc.Messages():
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
	for _, t := range topics {
		if t == o.cfg.OffsetsTopic {
			return false, nil
		}
	}
	admin, err := sarama.NewClusterAdmin(o.cfg.Hosts, o.sc)
	if err != nil {
		return false, err
	}
	defer admin.Close()
	compact := "compact"
	rf := replicationFactor(admin, cl)
	err = admin.CreateTopic(o.cfg.OffsetsTopic, &sarama.TopicDetail{NumPartitions: offsetsTopicPartitions, ReplicationFactor: rf,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact}}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return false, fmt.Errorf("offsets topic %s is missing and could not be created (%w); create it compacted, e.g. "+
			"kafka-topics.sh --create --topic %s --partitions %d --config cleanup.policy=compact", o.cfg.OffsetsTopic, err, o.cfg.OffsetsTopic, offsetsTopicPartitions)
	}
	o.log.Info("created the offsets topic", "topic", o.cfg.OffsetsTopic, "partitions", offsetsTopicPartitions, "replication_factor", rf, "cleanup.policy", compact)
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
