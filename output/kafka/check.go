package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/logship/logship/config"
)

// Check is `logship test output`: it connects to the brokers with the
// configured security, checks the topic, and produces one record to
// health_check_topic when one is set. Each step is reported on w as it
// ends; the error is the first step that failed.
func Check(ctx context.Context, k config.Kafka, w io.Writer) error {
	c, err := saramaConfig(k)
	if err != nil {
		return err
	}
	c.Net.DialTimeout = min(c.Net.DialTimeout, 10*time.Second)
	c.Metadata.Retry.Max = 0
	// A check creates nothing: a missing topic is reported as missing.
	c.Metadata.AllowAutoTopicCreation = false
	step := func(name string, err error, detail string) error {
		if err != nil {
			fmt.Fprintf(w, "FAIL  %s: %v\n", name, err)
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(w, "ok    %s%s\n", name, detail)
		return nil
	}
	reached := 0
	for _, h := range k.Hosts {
		_, err := apiVersions(h, c)
		if msg := authError(err, k.SASL.Mechanism != ""); msg != "" {
			err = fmt.Errorf("%s: %w", msg, err)
		}
		if err == nil {
			reached++
		}
		_ = step("connect "+h, err, "")
	}
	if reached == 0 {
		return errors.New("no broker could be reached")
	}
	if err := step("broker version", checkBrokerVersion(k.Hosts, c), " (Produce v3 or newer)"); err != nil {
		return err
	}
	client, err := sarama.NewClient(k.Hosts, c)
	if err := step("cluster metadata", err, ""); err != nil {
		return err
	}
	defer client.Close()
	if strings.Contains(k.Topic, "%{") {
		fmt.Fprintf(w, "skip  topic %q: a format, known only per event\n", k.Topic)
	} else if _, err := checkTopic(ctx, client, k.Topic, w, step); err != nil {
		return err
	}
	if k.ExactlyOnce() {
		if err := checkTransactions(client, k, w, step); err != nil {
			return err
		}
	}
	if k.HealthCheckTopic == "" {
		fmt.Fprintln(w, "skip  produce: no output.kafka.health_check_topic set (metadata checked only)")
		return nil
	}
	if k.HealthCheckTopic != k.Topic {
		switch exists, err := checkTopic(ctx, client, k.HealthCheckTopic, w, step); {
		case err != nil:
			return err
		case !exists:
			fmt.Fprintln(w, "skip  produce: health_check_topic is missing (a check creates no topic)")
			return nil
		}
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err := step("producer", err, ""); err != nil {
		return err
	}
	defer p.Close()
	msg := &sarama.ProducerMessage{Topic: k.HealthCheckTopic, Value: sarama.StringEncoder(fmt.Sprintf(`{"logship":"test output","time":%q}`, time.Now().UTC().Format(time.RFC3339)))}
	part, off, err := p.SendMessage(msg)
	return step("produce to "+k.HealthCheckTopic, err, fmt.Sprintf(" (partition %d, offset %d)", part, off))
}

// leaderWait is how long a check waits for a topic's partitions to have
// leaders: a topic just created elects them within seconds.
const leaderWait = 15 * time.Second

// checkTopic reports whether topic exists, without creating it, and waits
// for each of its partitions to have a leader. A missing topic is a
// warning when the broker says it would create it at the first record,
// and a failure when it would not.
func checkTopic(ctx context.Context, client sarama.Client, topic string, w io.Writer, step func(string, error, string) error) (exists bool, err error) {
	name := "topic " + topic
	deadline := time.Now().Add(leaderWait)
	for {
		// Metadata for every topic: unlike a request naming the topic,
		// it creates nothing whatever the protocol version.
		err := client.RefreshMetadata()
		var topics []string
		if err == nil {
			topics, err = client.Topics()
		}
		if err == nil && !slices.Contains(topics, topic) {
			return false, missingTopic(client, name, w, step)
		}
		var parts []int32
		if err == nil {
			parts, err = client.Partitions(topic)
		}
		if err == nil {
			err = leaders(client, topic, parts)
		}
		if err == nil {
			return true, step(name, nil, fmt.Sprintf(" (%d partitions, each with a leader)", len(parts)))
		}
		if !errors.Is(err, sarama.ErrLeaderNotAvailable) || time.Now().After(deadline) {
			return false, step(name, err, "")
		}
		select {
		case <-ctx.Done():
			return false, step(name, ctx.Err(), "")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// missingTopic reports a missing topic: a warning when the broker says it
// would create it at the first record, a failure when it would not.
func missingTopic(client sarama.Client, name string, w io.Writer, step func(string, error, string) error) error {
	switch auto, err := autoCreate(client); {
	case err != nil:
		fmt.Fprintf(w, "warn  %s: missing; it is created at the agent's first record only if the broker allows it (auto.create.topics.enable unknown: %v)\n", name, err)
	case auto:
		fmt.Fprintf(w, "warn  %s: missing; the broker creates it at the agent's first record (auto.create.topics.enable=true), with its default partitions and replication\n", name)
	default:
		return step(name, errors.New("missing, and the broker does not create topics (auto.create.topics.enable=false): create it first"), "")
	}
	return nil
}

// leaders fails with sarama.ErrLeaderNotAvailable while a partition has
// none.
func leaders(client sarama.Client, topic string, parts []int32) error {
	for _, p := range parts {
		if _, err := client.Leader(topic, p); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return nil
}

// autoCreate asks a broker for auto.create.topics.enable.
func autoCreate(client sarama.Client) (bool, error) {
	b, err := client.Controller()
	if err != nil {
		brokers := client.Brokers()
		if len(brokers) == 0 {
			return false, err
		}
		b = brokers[0]
	}
	if ok, _ := b.Connected(); !ok {
		if err := b.Open(client.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			return false, err
		}
	}
	const key = "auto.create.topics.enable"
	resp, err := b.DescribeConfigs(&sarama.DescribeConfigsRequest{
		Resources: []*sarama.ConfigResource{{Type: sarama.BrokerResource, Name: strconv.Itoa(int(b.ID())), ConfigNames: []string{key}}},
	})
	if err != nil {
		return false, err
	}
	for _, r := range resp.Resources {
		if r.ErrorCode != 0 {
			return false, fmt.Errorf("%s: %s", key, r.ErrorMsg)
		}
		for _, e := range r.Configs {
			if e.Name == key {
				return e.Value == "true", nil
			}
		}
	}
	return false, errors.New("the broker does not report it")
}

// checkTransactions checks what exactly_once needs without starting a
// transactional producer (which would fence a running agent with the same
// id): that the broker finds a coordinator for the transactional id, which
// it refuses without Describe on it, and whether offsets_topic exists.
func checkTransactions(client sarama.Client, k config.Kafka, w io.Writer, step func(string, error, string) error) error {
	name := "transactional id " + k.TransactionalID
	b, err := client.LeastLoadedBroker(), error(nil)
	if b == nil {
		return step(name, errors.New("no broker reachable"), "")
	}
	if ok, _ := b.Connected(); !ok {
		if err = b.Open(client.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			return step(name, err, "")
		}
	}
	resp, err := b.FindCoordinator(&sarama.FindCoordinatorRequest{Version: 1, CoordinatorKey: k.TransactionalID, CoordinatorType: sarama.CoordinatorTransaction})
	if err == nil && resp.Err != sarama.ErrNoError {
		err = resp.Err
	}
	if errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed) {
		err = fmt.Errorf("%w: grant this principal Describe and Write on the transactional id", err)
	}
	if err := step(name, err, " (coordinator found; Write on it is checked only when the agent starts)"); err != nil {
		return err
	}
	name = "offsets topic " + k.OffsetsTopic
	topics, err := client.Topics()
	if err != nil {
		return step(name, err, "")
	}
	admin, err := sarama.NewClusterAdmin(k.Hosts, client.Config())
	if err != nil {
		return step(name, err, "")
	}
	defer admin.Close()
	if slices.Contains(topics, k.OffsetsTopic) {
		// What the start refuses, this refuses.
		err := offsetsTopicPolicy(admin, k.OffsetsTopic)
		if err != nil && !errors.Is(err, errOffsetsTopic) {
			fmt.Fprintf(w, "warn  %s: its cleanup.policy could not be read (%v); it must be compact\n", name, err)
			return nil
		}
		return step(name, err, " (compacted)")
	}
	// Missing: the start creates it, if this principal may (asked with
	// validate_only, which creates nothing).
	rf := replicationFactor(admin, client)
	if err := admin.CreateTopic(k.OffsetsTopic, offsetsTopicDetail(rf), true); err != nil {
		return step(name, fmt.Errorf("missing, and the broker refuses to create it (%w); create it compacted: "+
			"kafka-topics.sh --create --topic %s --partitions %d --config cleanup.policy=compact", err, k.OffsetsTopic, offsetsTopicPartitions), "")
	}
	fmt.Fprintf(w, "ok    %s: missing; the agent creates it at start (%d partitions, replication factor %d, compacted: the broker accepts it)\n",
		name, offsetsTopicPartitions, rf)
	return nil
}
