package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	} else {
		parts, err := client.Partitions(k.Topic)
		if err := step("topic "+k.Topic, err, fmt.Sprintf(" (%d partitions)", len(parts))); err != nil {
			return err
		}
	}
	if k.HealthCheckTopic == "" {
		fmt.Fprintln(w, "skip  produce: no output.kafka.health_check_topic set (metadata checked only)")
		return nil
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
