package kafka

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/logship/logship/config"
)

// recordOverhead is room kept below max_message_bytes for the record's own
// framing (sarama's maximumRecordOverhead is 36 bytes).
const recordOverhead = 64

// saramaConfig maps the output's configuration onto sarama's.
func saramaConfig(k config.Kafka) (*sarama.Config, error) {
	c := sarama.NewConfig()
	v, err := config.ParseKafkaVersion(k.Version)
	if err != nil {
		return nil, fmt.Errorf("output.kafka.version: %w", err)
	}
	c.Version = v
	c.ClientID = k.ClientID
	c.Producer.RequiredAcks = sarama.RequiredAcks(k.RequiredAcks)
	c.Producer.MaxMessageBytes = k.MaxMessageBytes
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// Measured here: a short flush frequency lets sarama fill its batches
	// without holding records back, and is required for Flush.Messages to
	// ever flush a partial batch.
	c.Producer.Flush.Frequency = 10 * time.Millisecond
	// Deeper channels between sarama's stages: fewer goroutine hand-offs.
	c.ChannelBufferSize = 4096
	c.Producer.Retry.Max = 3
	c.Producer.Retry.Backoff = 250 * time.Millisecond
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	c.Net.DialTimeout = 5 * time.Second
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
