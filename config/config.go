package config

import "time"

// Config is the whole agent configuration.
type Config struct {
	Inputs          []Input  `yaml:"inputs"`
	Registry        Registry `yaml:"registry"`
	Queue           Queue    `yaml:"queue"`
	Output          Output   `yaml:"output"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	Logging         Logging  `yaml:"logging"`
	HTTP            HTTP     `yaml:"http"`
	// Name is this agent's name in events (host.name); the hostname when empty.
	Name string `yaml:"name"`

	// Fields, Tags and Processors apply to every input, after the input's
	// own (Filebeat's general settings); an input's own fields win.
	Fields          map[string]any `yaml:"fields"`
	FieldsUnderRoot bool           `yaml:"fields_under_root"`
	Tags            []string       `yaml:"tags"`
	Processors      []Processor    `yaml:"processors"`
}

// Input is one inputs[] entry: a set of globs and how to read what they match.
type Input struct {
	// ID names the input in metrics and logs; its position ("0") when empty.
	ID string `yaml:"id"`
	// Enabled false leaves the input out (it is still checked).
	Enabled         bool           `yaml:"enabled"`
	Type            string         `yaml:"type"`
	Paths           []string       `yaml:"paths"`
	ExcludeFiles    []string       `yaml:"exclude_files"`
	StartPosition   string         `yaml:"start_position"`
	MaxBytes        ByteSize       `yaml:"max_bytes"`
	ScanFrequency   Duration       `yaml:"scan_frequency"`
	CloseInactive   Duration       `yaml:"close_inactive"`
	Fields          map[string]any `yaml:"fields"`
	FieldsUnderRoot bool           `yaml:"fields_under_root"`
	// Tags are added to each event's tags list.
	Tags []string `yaml:"tags"`

	// RotatedFiles are globs of where this input's files go when rotated
	// (e.g. app.log.*). Files there are read only to finish content already
	// being read, or when written after the agent last stopped.
	RotatedFiles []string `yaml:"rotated_files"`
	// Decompress reads gzip files (gzip or auto: recognised by content).
	Decompress string `yaml:"decompress"`
	// Symlinks follows symbolic links; the target's identity is the key.
	Symlinks bool `yaml:"symlinks"`

	IgnoreOlder       Duration `yaml:"ignore_older"`
	CloseRemoved      bool     `yaml:"close_removed"`
	CloseRemovedAfter Duration `yaml:"close_removed_after"`
	CloseRenamed      bool     `yaml:"close_renamed"`
	CloseEOF          bool     `yaml:"close_eof"`
	CleanInactive     Duration `yaml:"clean_inactive"`
	CleanRemoved      bool     `yaml:"clean_removed"`
	HarvesterLimit    int      `yaml:"harvester_limit"`

	// Line processing, in this order: Encoding, container decoding
	// (type container: Format, Stream), Multiline, Parsers, IncludeLines
	// and ExcludeLines, Processors.
	Encoding              string             `yaml:"encoding"`
	Format                string             `yaml:"format"`
	Stream                string             `yaml:"stream"`
	AddKubernetesMetadata KubernetesMetadata `yaml:"add_kubernetes_metadata"`
	Multiline             *Multiline         `yaml:"multiline"`
	Parsers               []Parser           `yaml:"parsers"`
	IncludeLines          []string           `yaml:"include_lines"`
	ExcludeLines          []string           `yaml:"exclude_lines"`
	Processors            []Processor        `yaml:"processors"`
}

// Start positions for files the registry has never seen.
const (
	StartBeginning = "beginning"
	StartEnd       = "end"
)

// Registry configures where file offsets are persisted.
type Registry struct {
	Path          string   `yaml:"path"`
	FlushInterval Duration `yaml:"flush_interval"`
}

// Queue bounds the spooler and says how it cuts batches.
type Queue struct {
	MaxEvents     int      `yaml:"max_events"`
	MaxBytes      ByteSize `yaml:"max_bytes"`
	BatchEvents   int      `yaml:"batch_events"`
	FlushInterval Duration `yaml:"flush_interval"`
}

// Output holds the configured output; Kafka is the only one so far.
type Output struct {
	Kafka Kafka `yaml:"kafka"`
}

// Kafka configures output/kafka.
type Kafka struct {
	Hosts           HostList `yaml:"hosts"`
	Topic           string   `yaml:"topic"`
	ClientID        string   `yaml:"client_id"`
	Version         string   `yaml:"version"`
	RequiredAcks    int      `yaml:"required_acks"`
	Compression     string   `yaml:"compression"`
	MaxMessageBytes int      `yaml:"max_message_bytes"`
	Codec           string   `yaml:"codec"`
	Embedded        bool     `yaml:"embedded"`
	SASL            SASL     `yaml:"sasl"`
	TLS             TLS      `yaml:"tls"`

	// Topics pick a topic per event: the first rule whose condition
	// holds wins; Topic is the default. Topic and Key may hold
	// %{[field]} and %{[field]:default}.
	Topics    []TopicRule `yaml:"topics"`
	Key       string      `yaml:"key"`
	Partition Partition   `yaml:"partition"`
	Headers   []Header    `yaml:"headers"`
	// SourceHeaders adds log.file.path and log.offset headers to each
	// record with codec raw (whose value is the line alone); they cost
	// about a sixth of the CPU per line. Default true.
	SourceHeaders *bool `yaml:"source_headers"`

	// Idempotent makes re-sends unable to duplicate; nil means on when
	// required_acks is -1.
	Idempotent *bool `yaml:"idempotent"`
	// MaxInFlight bounds the batches sent and not yet acknowledged.
	MaxInFlight        int      `yaml:"max_in_flight"`
	Retry              Backoff  `yaml:"retry"`
	BrokerTimeout      Duration `yaml:"broker_timeout"`
	Timeout            Duration `yaml:"timeout"`
	KeepAlive          Duration `yaml:"keep_alive"`
	Metadata           Metadata `yaml:"metadata"`
	CompressionLevel   *int     `yaml:"compression_level"`
	BulkMaxSize        int      `yaml:"bulk_max_size"`
	BulkFlushFrequency Duration `yaml:"bulk_flush_frequency"`
	// OnPermanentError is what happens to an event Kafka will never take
	// (too large, invalid, not authorised): drop or dead_letter.
	OnPermanentError string     `yaml:"on_permanent_error"`
	DeadLetter       DeadLetter `yaml:"dead_letter"`
	// Partitions is the partition count of topics the embedded broker
	// creates; ignored unless Embedded.
	EmbeddedPartitions int `yaml:"embedded_partitions"`
	// HealthCheckTopic receives one record from `logship test output`.
	HealthCheckTopic string `yaml:"health_check_topic"`

	// Delivery is at_least_once or exactly_once: each transaction holds
	// batches' records and the file positions they advance, written to
	// OffsetsTopic under TransactionalID.
	Delivery        string `yaml:"delivery"`
	TransactionalID string `yaml:"transactional_id"`
	OffsetsTopic    string `yaml:"offsets_topic"`
	// TransactionMaxEvents bounds the events of one transaction: the
	// batches waiting are committed together, up to this many (always at
	// least one batch).
	TransactionMaxEvents int `yaml:"transaction_max_events"`
	// TransactionTimeout is the producer's transaction timeout: the broker
	// aborts a transaction open longer (and bumps the producer's epoch).
	TransactionTimeout Duration `yaml:"transaction_timeout"`
}

// Delivery modes.
const (
	DeliveryAtLeastOnce = "at_least_once"
	DeliveryExactlyOnce = "exactly_once"
)

// ExactlyOnce reports whether delivery is exactly_once.
func (k Kafka) ExactlyOnce() bool { return k.Delivery == DeliveryExactlyOnce }

// SASL configures authentication to Kafka.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty means none.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// TLS configures encryption (and client certificates) towards Kafka.
type TLS struct {
	Enabled bool `yaml:"enabled"`
	// CertificateAuthorities are PEM files of the CAs to trust; the
	// system's pool when empty.
	CertificateAuthorities []string `yaml:"certificate_authorities"`
	// Certificate and Key are PEM files of a client certificate (mutual TLS).
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"`
	// VerificationMode is full (the default) or none (insecure).
	VerificationMode string `yaml:"verification_mode"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name"`
}

// TopicRule routes events that match When to Topic.
type TopicRule struct {
	Topic string    `yaml:"topic"`
	When  Condition `yaml:"when"`
}

// Condition is a test on an event's fields (Filebeat's names). Every part
// set must hold.
type Condition struct {
	Equals    map[string]any    `yaml:"equals"`
	Contains  map[string]string `yaml:"contains"`
	Regexp    map[string]string `yaml:"regexp"`
	HasFields []string          `yaml:"has_fields"`
	And       []Condition       `yaml:"and"`
	Or        []Condition       `yaml:"or"`
	Not       *Condition        `yaml:"not"`
}

// Partition chooses how records are spread over a topic's partitions; at
// most one strategy is set (hash when none).
type Partition struct {
	Hash       *struct{} `yaml:"hash,omitempty"`
	RoundRobin *struct{} `yaml:"round_robin,omitempty"`
	Random     *struct{} `yaml:"random,omitempty"`
}

// Header is a static record header.
type Header struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Backoff is a retry schedule: Backoff doubling up to MaxBackoff.
type Backoff struct {
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
}

// Metadata configures how the Kafka client refreshes cluster metadata.
type Metadata struct {
	RefreshFrequency Duration      `yaml:"refresh_frequency"`
	Retry            MetadataRetry `yaml:"retry"`
}

// MetadataRetry is how often and how fast a failed metadata request is retried.
type MetadataRetry struct {
	Max     int      `yaml:"max"`
	Backoff Duration `yaml:"backoff"`
}

// DeadLetter is where events Kafka rejected for good are kept.
type DeadLetter struct {
	Path    string   `yaml:"path"`
	MaxSize ByteSize `yaml:"max_size"`
}

// Permanent error policies.
const (
	PermanentDrop       = "drop"
	PermanentDeadLetter = "dead_letter"
)

// VersionAuto asks the broker which protocol versions it speaks.
const VersionAuto = "auto"

// IsIdempotent reports whether the producer is idempotent.
func (k Kafka) IsIdempotent() bool { return *k.resolved().Idempotent }

// Resolved returns c with every value that defaults to depend on another
// made explicit (output.kafka.idempotent, output.kafka.partition), as the
// agent runs it: what export config prints.
func (c Config) Resolved() Config {
	c.Output.Kafka = c.Output.Kafka.resolved()
	return c
}

func (k Kafka) resolved() Kafka {
	if k.Idempotent == nil {
		on := k.RequiredAcks == -1 || k.ExactlyOnce()
		k.Idempotent = &on
	}
	if k.Partition.Hash == nil && k.Partition.RoundRobin == nil && k.Partition.Random == nil {
		k.Partition.Hash = &struct{}{}
	}
	return k
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// Codecs for Kafka record values.
const (
	CodecJSON = "json"
	CodecRaw  = "raw"
)

// Logging configures the agent's own log.
type Logging struct {
	Level   string         `yaml:"level"`
	Format  string         `yaml:"format"`
	Metrics LoggingMetrics `yaml:"metrics"`
}

// HTTP configures the monitoring endpoint: /metrics, /healthz, /readyz,
// /stats and POST /reload.
type HTTP struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	// ReadyWindow: /readyz fails while events wait and nothing was
	// delivered for this long.
	ReadyWindow Duration `yaml:"ready_window"`
	// TopFiles is how many of the files furthest behind get their own lag
	// series (bounded cardinality); the rest count per input only.
	TopFiles int `yaml:"top_files"`
	// PProf serves Go's profiles (net/http/pprof) under /debug/pprof/.
	PProf bool `yaml:"pprof"`
	// ControlListen is where the control requests (POST /reload and
	// /debug/pprof/) are served. Empty: on Listen, but only when Listen is
	// a loopback address or ControlToken is set; elsewhere they are
	// refused (403), so that probes and metrics can be public.
	ControlListen string `yaml:"control_listen"`
	// ControlToken, when set, must come with every control request as
	// "Authorization: Bearer TOKEN".
	ControlToken Secret `yaml:"control_token"`
}

// LoggingMetrics configures the periodic progress line.
type LoggingMetrics struct {
	Period Duration `yaml:"period"`
}

// Default returns the configuration every file is decoded on top of.
func Default() Config {
	return Config{
		Registry: Registry{
			Path:          "data/registry.json",
			FlushInterval: Duration(time.Second),
		},
		Queue: Queue{
			MaxEvents:     4096,
			MaxBytes:      16 * MiB,
			BatchEvents:   2048,
			FlushInterval: Duration(250 * time.Millisecond),
		},
		Output: Output{Kafka: Kafka{
			Topic:              "logs",
			ClientID:           "logship",
			Version:            "2.1.0",
			RequiredAcks:       -1,
			Compression:        "none",
			MaxMessageBytes:    1000000,
			Codec:              CodecJSON,
			EmbeddedPartitions: 3,
			TLS:                TLS{VerificationMode: "full"},
			MaxInFlight:        5,
			Retry:              Backoff{Backoff: Duration(100 * time.Millisecond), MaxBackoff: Duration(10 * time.Second)},
			BrokerTimeout:      Duration(10 * time.Second),
			Timeout:            Duration(30 * time.Second),
			Metadata: Metadata{
				RefreshFrequency: Duration(10 * time.Minute),
				Retry:            MetadataRetry{Max: 3, Backoff: Duration(250 * time.Millisecond)},
			},
			BulkMaxSize:          2048,
			BulkFlushFrequency:   Duration(4 * time.Millisecond),
			OnPermanentError:     PermanentDeadLetter,
			DeadLetter:           DeadLetter{Path: "data/dead-letter.ndjson", MaxSize: 100 * MiB},
			Delivery:             DeliveryAtLeastOnce,
			OffsetsTopic:         "logship-offsets",
			TransactionMaxEvents: 8192,
			TransactionTimeout:   Duration(time.Minute),
		}},
		ShutdownTimeout: Duration(10 * time.Second),
		Logging:         Logging{Level: "info", Format: "text", Metrics: LoggingMetrics{Period: Duration(30 * time.Second)}},
		HTTP:            HTTP{Listen: "127.0.0.1:5066", ReadyWindow: Duration(time.Minute), TopFiles: 10},
	}
}

// Defaults is the configuration `export config` prints without a file:
// every default, with one input of its defaults (its paths are the one
// key an input must set).
func Defaults() Config {
	c := Default()
	c.Inputs = []Input{DefaultInput()}
	c.Inputs[0].Paths = []string{"/var/log/*.log"}
	c.Output.Kafka.Hosts = HostList{"localhost:9092"}
	return c.Resolved()
}

// DefaultEmbeddedAddr is where the embedded broker listens when
// output.kafka.hosts does not say.
const DefaultEmbeddedAddr = "127.0.0.1:9092"

// DefaultMaxBytes is the default longest line (and multiline event): under
// output.kafka.max_message_bytes' default (1,000,000), with room for the
// event's other fields, so that a truncated line still reaches Kafka.
const DefaultMaxBytes = 900 * KiB

// DefaultInput returns the defaults of one inputs[] entry.
func DefaultInput() Input {
	return Input{
		Enabled:       true,
		Type:          InputLog,
		StartPosition: StartBeginning,
		MaxBytes:      DefaultMaxBytes,
		ScanFrequency: Duration(10 * time.Second),
		CloseInactive: Duration(5 * time.Minute),
		Decompress:    "none",

		CloseRemoved:      true,
		CloseRemovedAfter: Duration(5 * time.Minute),
		CleanRemoved:      true,

		Encoding:              "utf-8",
		Format:                FormatAuto,
		Stream:                StreamAll,
		AddKubernetesMetadata: KubernetesMetadata{CleanupTimeout: Duration(time.Minute)},
	}
}
