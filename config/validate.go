package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"
)

// validator collects problems with their paths; lines are looked up at the end.
type validator struct {
	file string
	root *yaml.Node
	errs []error
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: lineOf(v.root, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// atLeast checks a duration against the shortest that makes sense: below it
// the agent would only spin (log, scan or write without pause).
func (v *validator) atLeast(path string, d Duration, least time.Duration) {
	if d.D() < least {
		v.add(path, "%s is shorter than %s", d.D(), least)
	}
}

func (v *validator) positive(path string, n int64) {
	if n <= 0 {
		v.add(path, "must be greater than zero")
	}
}

// readable checks that a configured file (if any) can be read.
func (v *validator) readable(path, name string) {
	if name == "" {
		return
	}
	if f, err := os.Open(name); err != nil {
		v.add(path, "%v", err)
	} else {
		f.Close()
	}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		v.add(path, "%q is not one of %q", got, allowed)
	}
}

// Validate reports every problem in c at once; file names it in the errors.
func (c *Config) Validate(file string) error { return c.validate(file, nil) }

func (c *Config) validate(file string, root *yaml.Node) error {
	v := &validator{file: file, root: root}
	enabled := 0
	for i := range c.Inputs {
		c.Inputs[i].validate(v, "inputs["+strconv.Itoa(i)+"]")
		if c.Inputs[i].Enabled {
			enabled++
		}
	}
	switch {
	case len(c.Inputs) == 0:
		v.add("inputs", "at least one input is required")
	case enabled == 0:
		v.add("inputs", "every input has enabled: false; at least one must be enabled")
	}
	for i := range c.Processors {
		v.processor("processors["+strconv.Itoa(i)+"]", &c.Processors[i])
	}
	if _, err := json.Marshal(c.Fields); err != nil {
		v.add("fields", "cannot be encoded as JSON: %v", err)
	}

	if c.Registry.Path == "" {
		v.add("registry.path", "must not be empty")
	}
	v.atLeast("registry.flush_interval", c.Registry.FlushInterval, 10*time.Millisecond)

	q := c.Queue
	v.positive("queue.max_events", int64(q.MaxEvents))
	v.positive("queue.max_bytes", int64(q.MaxBytes))
	v.positive("queue.batch_events", int64(q.BatchEvents))
	if q.BatchEvents > q.MaxEvents && q.MaxEvents > 0 {
		v.add("queue.batch_events", "%d is more than queue.max_events (%d)", q.BatchEvents, q.MaxEvents)
	}
	v.atLeast("queue.flush_interval", q.FlushInterval, time.Millisecond)

	c.Output.Kafka.validate(v, "output.kafka")

	v.positive("shutdown_timeout", int64(c.ShutdownTimeout))
	v.oneOf("logging.level", c.Logging.Level, "debug", "info", "warn", "error")
	v.oneOf("logging.format", c.Logging.Format, "text", "json")
	v.atLeast("logging.metrics.period", c.Logging.Metrics.Period, 100*time.Millisecond)
	if c.HTTP.Enabled {
		if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil || port == "" {
			v.add("http.listen", "%q is not host:port", c.HTTP.Listen)
		}
		if c.HTTP.ControlListen != "" {
			if _, port, err := net.SplitHostPort(c.HTTP.ControlListen); err != nil || port == "" {
				v.add("http.control_listen", "%q is not host:port", c.HTTP.ControlListen)
			} else if c.HTTP.ControlListen == c.HTTP.Listen {
				v.add("http.control_listen", "is http.listen: leave it empty to serve control requests there")
			}
		}
	}
	v.atLeast("http.ready_window", c.HTTP.ReadyWindow, time.Second)
	if c.HTTP.TopFiles < 0 {
		v.add("http.top_files", "must not be negative")
	}
	// A line cut at max_bytes is shipped, so it must fit in a record.
	mmb := c.Output.Kafka.MaxMessageBytes
	for i := range c.Inputs {
		in := &c.Inputs[i]
		p := "inputs[" + strconv.Itoa(i) + "]"
		if mmb > 0 && int64(in.MaxBytes) > int64(mmb) {
			v.add(p+".max_bytes", "%d is more than output.kafka.max_message_bytes (%d): truncated lines could not be shipped", int64(in.MaxBytes), mmb)
		}
		mls := map[string]*Multiline{p + ".multiline": in.Multiline}
		for j, ps := range in.Parsers {
			mls[p+".parsers["+strconv.Itoa(j)+"].multiline"] = ps.Multiline
		}
		for mp, m := range mls {
			if m != nil && mmb > 0 && int64(m.MaxBytes) > int64(mmb) {
				v.add(mp+".max_bytes", "%d is more than output.kafka.max_message_bytes (%d): joined events could not be shipped", int64(m.MaxBytes), mmb)
			}
		}
	}
	ids := map[string]int{}
	for i, in := range c.Inputs {
		if in.ID == "" {
			continue
		}
		if j, dup := ids[in.ID]; dup {
			v.add("inputs["+strconv.Itoa(i)+"].id", "%q is the id of inputs[%d] too", in.ID, j)
		}
		ids[in.ID] = i
	}
	slices.SortStableFunc(v.errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
	return errors.Join(v.errs...)
}

func (in *Input) validate(v *validator, path string) {
	v.oneOf(path+".type", in.Type, InputLog, InputFilestream, InputContainer)
	in.processing(v, path)
	if len(in.Paths) == 0 {
		v.add(path+".paths", "must not be empty")
	}
	for j, p := range in.Paths {
		pp := path + ".paths[" + strconv.Itoa(j) + "]"
		switch {
		case p == "":
			v.add(pp, "must not be empty")
		case !doublestar.ValidatePathPattern(p):
			v.add(pp, "%q is not a valid glob", p)
		}
	}
	for j, re := range in.ExcludeFiles {
		if _, err := regexp.Compile(re); err != nil {
			v.add(path+".exclude_files["+strconv.Itoa(j)+"]", "invalid regular expression: %v", err)
		}
	}
	v.oneOf(path+".start_position", in.StartPosition, StartBeginning, StartEnd)
	v.positive(path+".max_bytes", int64(in.MaxBytes))
	v.atLeast(path+".scan_frequency", in.ScanFrequency, 100*time.Millisecond)
	v.atLeast(path+".close_inactive", in.CloseInactive, 100*time.Millisecond)
	for j, p := range in.RotatedFiles {
		if !doublestar.ValidatePathPattern(p) {
			v.add(path+".rotated_files["+strconv.Itoa(j)+"]", "%q is not a valid glob", p)
		}
	}
	v.oneOf(path+".decompress", in.Decompress, "none", "gzip", "auto")
	for _, d := range []struct {
		key string
		val Duration
	}{{"ignore_older", in.IgnoreOlder}, {"close_removed_after", in.CloseRemovedAfter}, {"clean_inactive", in.CleanInactive}} {
		if d.val < 0 {
			v.add(path+"."+d.key, "must not be negative")
		}
	}
	if in.HarvesterLimit < 0 {
		v.add(path+".harvester_limit", "must not be negative (0 means no limit)")
	}
	if in.CleanInactive > 0 {
		switch {
		case in.IgnoreOlder == 0:
			v.add(path+".clean_inactive", "needs ignore_older: without it a cleaned file that still exists is read again from the start")
		case in.CleanInactive <= in.IgnoreOlder+in.ScanFrequency:
			v.add(path+".clean_inactive", "%s must be greater than ignore_older + scan_frequency (%s)", in.CleanInactive.D(), (in.IgnoreOlder + in.ScanFrequency).D())
		}
	}
	if _, err := json.Marshal(in.Fields); err != nil {
		v.add(path+".fields", "cannot be encoded as JSON: %v", err)
	}
}

// topicName is what Kafka accepts as a topic's name.
var topicName = regexp.MustCompile(`\A[A-Za-z0-9._-]{1,249}\z`)

// oldClientID is what brokers before 1.0.0 accept as a client id.
var oldClientID = regexp.MustCompile(`\A[A-Za-z0-9._-]+\z`)

// MinKafkaVersion is the oldest protocol version logship speaks: record
// batches (Produce v3) arrived with Kafka 0.11.
var MinKafkaVersion = sarama.V0_11_0_0

func (k *Kafka) validate(v *validator, path string) {
	if len(k.Hosts) == 0 {
		v.add(path+".hosts", "must be set: the Kafka brokers as host:port (or embedded: true for the in-process broker)")
	}
	for i, h := range k.Hosts {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			v.add(path+".hosts["+strconv.Itoa(i)+"]", "%q is not host:port", h)
		}
	}
	if k.Topic == "" {
		v.add(path+".topic", "must not be empty")
	}
	if k.Version != VersionAuto {
		if ver, err := ParseKafkaVersion(k.Version); err != nil {
			v.add(path+".version", "%q is not a Kafka version such as \"2.1.0\" (or auto)", k.Version)
		} else if !ver.IsAtLeast(MinKafkaVersion) {
			v.add(path+".version", "%q is older than the oldest supported version %s", k.Version, MinKafkaVersion)
		} else {
			// The Kafka client refuses these at start: said here, with the line.
			if k.Compression == "zstd" && !ver.IsAtLeast(sarama.V2_1_0_0) {
				v.add(path+".compression", "zstd needs version 2.1.0 or newer (version is %s)", k.Version)
			}
			if !ver.IsAtLeast(sarama.V1_0_0_0) && !oldClientID.MatchString(k.ClientID) {
				v.add(path+".client_id", "%q: with a version before 1.0.0 (%s) it may hold only letters, digits, '.', '_' and '-'", k.ClientID, k.Version)
			}
		}
	}
	for i, r := range k.Topics {
		rp := path + ".topics[" + strconv.Itoa(i) + "]"
		if r.Topic == "" {
			v.add(rp+".topic", "must not be empty")
		}
		v.condition(rp+".when", r.When)
	}
	set := 0
	for _, p := range []*struct{}{k.Partition.Hash, k.Partition.RoundRobin, k.Partition.Random} {
		if p != nil {
			set++
		}
	}
	if set > 1 {
		v.add(path+".partition", "choose one of hash, round_robin, random")
	}
	for i, h := range k.Headers {
		if h.Key == "" {
			v.add(path+".headers["+strconv.Itoa(i)+"].key", "must not be empty")
		}
	}
	if k.SourceHeaders != nil && k.Codec != CodecRaw {
		v.add(path+".source_headers", "applies to codec: raw only")
	}
	if k.IsIdempotent() && k.RequiredAcks != -1 {
		v.add(path+".idempotent", "needs required_acks: -1")
	}
	v.positive(path+".max_in_flight", int64(k.MaxInFlight))
	v.atLeast(path+".retry.backoff", k.Retry.Backoff, time.Millisecond)
	if k.Retry.MaxBackoff < k.Retry.Backoff {
		v.add(path+".retry.max_backoff", "%s is less than retry.backoff (%s)", k.Retry.MaxBackoff.D(), k.Retry.Backoff.D())
	}
	v.atLeast(path+".broker_timeout", k.BrokerTimeout, 100*time.Millisecond)
	v.atLeast(path+".timeout", k.Timeout, 100*time.Millisecond)
	if k.KeepAlive < 0 {
		v.add(path+".keep_alive", "must not be negative")
	}
	v.atLeast(path+".metadata.refresh_frequency", k.Metadata.RefreshFrequency, time.Second)
	if k.Metadata.Retry.Max < 0 {
		v.add(path+".metadata.retry.max", "must not be negative")
	}
	if k.BulkMaxSize < 0 {
		v.add(path+".bulk_max_size", "must not be negative (0 means no limit)")
	}
	v.atLeast(path+".bulk_flush_frequency", k.BulkFlushFrequency, time.Millisecond)
	v.oneOf(path+".on_permanent_error", k.OnPermanentError, PermanentDrop, PermanentDeadLetter)
	v.oneOf(path+".delivery", k.Delivery, DeliveryAtLeastOnce, DeliveryExactlyOnce)
	if k.ExactlyOnce() {
		// A transaction needs what idempotence needs, from a broker that
		// has transactions (0.11 and newer, the oldest logship speaks).
		if k.RequiredAcks != -1 {
			v.add(path+".required_acks", "%d: delivery exactly_once needs -1 (all in-sync replicas)", k.RequiredAcks)
		}
		if k.Idempotent != nil && !*k.Idempotent {
			v.add(path+".idempotent", "false: delivery exactly_once needs an idempotent producer")
		}
		if !topicName.MatchString(k.OffsetsTopic) {
			v.add(path+".offsets_topic", "%q is not a Kafka topic name (1 to 249 of letters, digits, '.', '_' and '-')", k.OffsetsTopic)
		} else if k.OffsetsTopic == k.Topic || k.OffsetsTopic == k.HealthCheckTopic {
			v.add(path+".offsets_topic", "%q must be a topic of its own, not one events go to", k.OffsetsTopic)
		}
		if k.TransactionalID == "" {
			v.add(path+".transactional_id", "must not be empty")
		}
		v.positive(path+".transaction_max_events", int64(k.TransactionMaxEvents))
		// Long enough for a produce request and a commit to take their
		// broker_timeout each; at most what brokers accept by default
		// (transaction.max.timeout.ms, 15 minutes).
		if d, lo := k.TransactionTimeout.D(), 2*k.BrokerTimeout.D(); d < lo {
			v.add(path+".transaction_timeout", "%s: must be at least twice broker_timeout (%s)", d, lo)
		} else if d > 15*time.Minute {
			v.add(path+".transaction_timeout", "%s: must be at most 15m (brokers refuse more unless transaction.max.timeout.ms is raised)", d)
		}
	}
	if k.OnPermanentError == PermanentDeadLetter {
		if k.DeadLetter.Path == "" {
			v.add(path+".dead_letter.path", "must not be empty with on_permanent_error: dead_letter")
		}
		v.positive(path+".dead_letter.max_size", int64(k.DeadLetter.MaxSize))
	}
	if l := k.CompressionLevel; l != nil {
		if lo, hi, ok := compressionLevels(k.Compression); !ok {
			v.add(path+".compression_level", "compression %s has no levels", k.Compression)
		} else if *l < lo || *l > hi {
			v.add(path+".compression_level", "%d is outside %d..%d for %s", *l, lo, hi, k.Compression)
		}
	}
	if k.RequiredAcks < -1 || k.RequiredAcks > 1 {
		v.add(path+".required_acks", "%d is not one of -1 (all), 1 (leader), 0 (none)", k.RequiredAcks)
	}
	v.oneOf(path+".compression", k.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	v.positive(path+".max_message_bytes", int64(k.MaxMessageBytes))
	v.oneOf(path+".codec", k.Codec, CodecJSON, CodecRaw)
	if k.Embedded {
		v.positive(path+".embedded_partitions", int64(k.EmbeddedPartitions))
	}
	if m := k.SASL.Mechanism; m != "" {
		v.oneOf(path+".sasl.mechanism", m, SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512)
		if k.SASL.Username == "" {
			v.add(path+".sasl.username", "must not be empty with sasl.mechanism %s", m)
		}
	}
	t := k.TLS
	v.oneOf(path+".tls.verification_mode", t.VerificationMode, "full", "none")
	if (t.Certificate == "") != (t.Key == "") {
		v.add(path+".tls.certificate", "certificate and key go together (mutual TLS)")
	}
	if t.Enabled {
		for i, f := range t.CertificateAuthorities {
			v.readable(path+".tls.certificate_authorities["+strconv.Itoa(i)+"]", f)
		}
		v.readable(path+".tls.certificate", t.Certificate)
		v.readable(path+".tls.key", t.Key)
	}
}

// ParseKafkaVersion parses a Kafka version such as "2.1.0" or "0.11.0"
// (sarama wants four parts before 1.0; the fourth is added when missing).
func ParseKafkaVersion(s string) (sarama.KafkaVersion, error) {
	v, err := sarama.ParseKafkaVersion(s)
	if err != nil && strings.HasPrefix(s, "0.") && strings.Count(s, ".") == 2 {
		v, err = sarama.ParseKafkaVersion(s + ".0")
	}
	return v, err
}

// compressionLevels is the range of levels a codec accepts.
func compressionLevels(codec string) (lo, hi int, ok bool) {
	switch codec {
	case "gzip":
		return 1, 9, true
	case "zstd":
		return 1, 22, true
	case "lz4":
		return 0, 9, true
	}
	return 0, 0, false
}

// condition checks a condition's regular expressions, at any depth.
func (v *validator) condition(path string, c Condition) {
	for field, re := range c.Regexp {
		if _, err := regexp.Compile(re); err != nil {
			v.add(path+".regexp."+field, "invalid regular expression: %v", err)
		}
	}
	for i, sub := range c.And {
		v.condition(path+".and["+strconv.Itoa(i)+"]", sub)
	}
	for i, sub := range c.Or {
		v.condition(path+".or["+strconv.Itoa(i)+"]", sub)
	}
	if c.Not != nil {
		v.condition(path+".not", *c.Not)
	}
}
