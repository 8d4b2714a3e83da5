package kafka

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/logship/logship/config"
)

// recordOverhead is room kept below max_message_bytes for the record's own
// framing (sarama's maximumRecordOverhead is 36 bytes).
const recordOverhead = 64

// apiVersions opens a connection to one broker, asks which protocol
// versions it speaks, and closes it.
func apiVersions(host string, c *sarama.Config) (*sarama.ApiVersionsResponse, error) {
	b := sarama.NewBroker(host)
	if err := b.Open(c); err != nil {
		return nil, err
	}
	defer b.Close()
	return b.ApiVersions(&sarama.ApiVersionsRequest{})
}

// firstAnswer is apiVersions of the first of hosts that answers.
func firstAnswer(hosts []string, c *sarama.Config) (string, *sarama.ApiVersionsResponse, error) {
	var last error
	for _, h := range hosts {
		resp, err := apiVersions(h, c)
		if err == nil {
			return h, resp, nil
		}
		last = err
	}
	return "", nil, last
}

// checkBrokerVersion asks the first broker that answers which protocol
// versions it speaks, and refuses one too old for record batches.
func checkBrokerVersion(hosts []string, c *sarama.Config) error {
	h, resp, err := firstAnswer(hosts, c)
	if err != nil {
		return err
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 0 && k.MaxVersion < 3 { // Produce v3 came with 0.11
			return fmt.Errorf("%w: %s speaks Produce v%d at most; logship needs Kafka %s or newer (Produce v3)",
				errBrokerTooOld, h, k.MaxVersion, config.MinKafkaVersion)
		}
	}
	return nil
}

var errBrokerTooOld = errors.New("kafka broker too old")

// saramaConfig maps the output's configuration onto sarama's.
func saramaConfig(k config.Kafka) (*sarama.Config, error) {
	c := sarama.NewConfig()
	if k.Version == config.VersionAuto {
		// The newest sarama knows; sarama then asks each broker
		// (ApiVersions) and speaks no newer than it does. connect checks
		// that the broker is recent enough at all.
		c.Version = sarama.MaxVersion
	} else {
		v, err := config.ParseKafkaVersion(k.Version)
		if err != nil {
			return nil, fmt.Errorf("output.kafka.version: %w", err)
		}
		c.Version = v
	}
	c.ClientID = k.ClientID
	c.Producer.RequiredAcks = sarama.RequiredAcks(k.RequiredAcks)
	c.Producer.MaxMessageBytes = k.MaxMessageBytes
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Timeout = k.BrokerTimeout.D()
	c.Producer.Partitioner = newPartitioner(k.Partition)
	// Measured here: a short flush frequency lets sarama fill its batches
	// without holding records back, and is required for Flush.Messages to
	// ever flush a partial batch.
	c.Producer.Flush.Frequency = k.BulkFlushFrequency.D()
	c.Producer.Flush.MaxMessages = k.BulkMaxSize
	// Deeper channels between sarama's stages: fewer goroutine hand-offs.
	c.ChannelBufferSize = 4096
	// sarama's own retries keep a message's producer epoch and sequence
	// number, so with idempotence the broker drops what it wrote already;
	// a message sarama gives up on is re-sent by logship (to the same
	// partition) under a new one and may be duplicated. sarama sleeps a
	// whole partition for each retry's backoff, so a growing backoff there
	// stalls everything behind one failure (measured: a minute for twenty
	// write-then-fail answers): its backoff stays short, and its retries
	// many (100, some 10 s at the default backoff: connections cut two
	// times in three gave up after 10 and duplicated), and logship's own
	// re-sends back off.
	c.Producer.Retry.Max = 100
	c.Producer.Retry.Backoff = k.Retry.Backoff.D()
	if k.IsIdempotent() {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	if k.ExactlyOnce() {
		c.Producer.Transaction.ID = k.TransactionalID
		c.Producer.Transaction.Timeout = k.TransactionTimeout.D()
		// Positions are read back from offsets_topic as committed.
		c.Consumer.IsolationLevel = sarama.ReadCommitted
		c.Consumer.Return.Errors = true
	}
	c.Metadata.RefreshFrequency = k.Metadata.RefreshFrequency.D()
	c.Metadata.Retry.Max = k.Metadata.Retry.Max
	c.Metadata.Retry.Backoff = k.Metadata.Retry.Backoff.D()
	c.Net.DialTimeout = k.Timeout.D()
	c.Net.ReadTimeout = k.Timeout.D()
	c.Net.WriteTimeout = k.Timeout.D()
	c.Net.KeepAlive = k.KeepAlive.D()
	if k.CompressionLevel != nil {
		c.Producer.CompressionLevel = *k.CompressionLevel
	}
	switch k.Compression {
	case "none":
		c.Producer.Compression = sarama.CompressionNone
	case "gzip":
		c.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		c.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		c.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		c.Producer.Compression = sarama.CompressionZSTD
	default:
		return nil, fmt.Errorf("output.kafka.compression: unknown codec %q", k.Compression)
	}
	if err := configureSecurity(c, k); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("output.kafka: %w", err)
	}
	return c, nil
}
