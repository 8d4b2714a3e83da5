package config

import "time"

// Input types.
const (
	InputLog       = "log"
	InputContainer = "container"
	// InputFilestream is Filebeat's newer log input: read as log, with
	// its keys mapped (see filestream.go).
	InputFilestream = "filestream"
)

// Multiline joins consecutive lines into one event (Filebeat's names).
type Multiline struct {
	// Type is pattern, count or while_pattern.
	Type string `yaml:"type"`
	// Pattern is the regular expression lines are tested with. With type
	// pattern, a line that matches (or, with Negate, does not) belongs to
	// the previous line (Match: after) or to the next one (Match: before).
	Pattern      string `yaml:"pattern"`
	Negate       bool   `yaml:"negate"`
	Match        string `yaml:"match"`
	FlushPattern string `yaml:"flush_pattern"`
	// CountLines is how many lines type count joins.
	CountLines int `yaml:"count_lines"`
	// MaxLines and MaxBytes bound one event; lines past them are dropped
	// from the event, which is flagged truncated.
	MaxLines int      `yaml:"max_lines"`
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Timeout sends a pending event when no line came for this long.
	Timeout Duration `yaml:"timeout"`
}

// Multiline types and match modes.
const (
	MultilinePattern      = "pattern"
	MultilineCount        = "count"
	MultilineWhilePattern = "while_pattern"
	MatchAfter            = "after"
	MatchBefore           = "before"
)

// UnmarshalYAML fills the defaults before decoding.
func (m *Multiline) UnmarshalYAML(unmarshal func(any) error) error {
	*m = Multiline{Type: MultilinePattern, MaxLines: 500, MaxBytes: DefaultMaxBytes, Timeout: Duration(5 * time.Second)}
	type plain Multiline
	return unmarshal((*plain)(m))
}

// Parser is one parsers[] entry; exactly one of its fields is set. Parsers
// run in the order written.
type Parser struct {
	Multiline *Multiline `yaml:"multiline,omitempty"`
	NDJSON    *NDJSON    `yaml:"ndjson,omitempty"`
}

// NDJSON decodes each line as a JSON object.
type NDJSON struct {
	// Target is the field the object goes under; empty means the top level.
	Target string `yaml:"target"`
	// MessageKey names the key whose string value becomes the message.
	MessageKey string `yaml:"message_key"`
	// AddErrorKey adds error.message when a line is not a JSON object.
	AddErrorKey bool `yaml:"add_error_key"`
	// OverwriteKeys lets decoded keys replace fields logship sets
	// (@timestamp, log, input, host...). Without it those are kept.
	OverwriteKeys bool `yaml:"overwrite_keys"`
}

// UnmarshalYAML fills the defaults before decoding.
func (n *NDJSON) UnmarshalYAML(unmarshal func(any) error) error {
	*n = NDJSON{AddErrorKey: true}
	type plain NDJSON
	return unmarshal((*plain)(n))
}

// Processor is one processors[] entry; exactly one of its fields is set.
// Processors run in the order written.
type Processor struct {
	AddFields       *AddFields       `yaml:"add_fields,omitempty"`
	DropFields      *DropFields      `yaml:"drop_fields,omitempty"`
	Rename          *Rename          `yaml:"rename,omitempty"`
	CopyFields      *CopyFields      `yaml:"copy_fields,omitempty"`
	AddTags         *AddTags         `yaml:"add_tags,omitempty"`
	DropEvent       *DropEvent       `yaml:"drop_event,omitempty"`
	Dissect         *Dissect         `yaml:"dissect,omitempty"`
	DecodeJSON      *DecodeJSON      `yaml:"decode_json_fields,omitempty"`
	Timestamp       *Timestamp       `yaml:"timestamp,omitempty"`
	AddHostMetadata *AddHostMetadata `yaml:"add_host_metadata,omitempty"`
}

// processorNames are the processors, as written in a configuration.
var processorNames = "add_fields, drop_fields, rename, copy_fields, add_tags, drop_event, dissect, decode_json_fields, timestamp, add_host_metadata"

// DecodeJSON decodes fields whose values are JSON text.
type DecodeJSON struct {
	Fields []string `yaml:"fields"`
	// Target is where the decoded object goes: the field itself when
	// unset, the top level when "", else that field.
	Target *string `yaml:"target"`
	// MaxDepth decodes JSON text found inside the decoded values, down to
	// this many levels.
	MaxDepth int `yaml:"max_depth"`
	// ProcessArray decodes arrays too (otherwise only objects).
	ProcessArray bool `yaml:"process_array"`
	// OverwriteKeys lets decoded keys replace existing ones at the target.
	OverwriteKeys bool `yaml:"overwrite_keys"`
	// AddErrorKey records a field that is not JSON in error.message.
	AddErrorKey bool       `yaml:"add_error_key"`
	When        *Condition `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (d *DecodeJSON) UnmarshalYAML(unmarshal func(any) error) error {
	*d = DecodeJSON{MaxDepth: 1}
	type plain DecodeJSON
	return unmarshal((*plain)(d))
}

// AddTags appends tags to the list at Target ("tags" by default).
type AddTags struct {
	Tags   []string   `yaml:"tags"`
	Target string     `yaml:"target"`
	When   *Condition `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (a *AddTags) UnmarshalYAML(unmarshal func(any) error) error {
	*a = AddTags{Target: "tags"}
	type plain AddTags
	return unmarshal((*plain)(a))
}

// CopyFields copies fields; To must not exist yet.
type CopyFields struct {
	Fields        []RenameField `yaml:"fields"`
	IgnoreMissing bool          `yaml:"ignore_missing"`
	FailOnError   bool          `yaml:"fail_on_error"`
	When          *Condition    `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (c *CopyFields) UnmarshalYAML(unmarshal func(any) error) error {
	*c = CopyFields{FailOnError: true}
	type plain CopyFields
	return unmarshal((*plain)(c))
}

// AddFields adds fields under Target ("fields" by default; "" is the top level).
type AddFields struct {
	Target string         `yaml:"target"`
	Fields map[string]any `yaml:"fields"`
	When   *Condition     `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (a *AddFields) UnmarshalYAML(unmarshal func(any) error) error {
	*a = AddFields{Target: "fields"}
	type plain AddFields
	return unmarshal((*plain)(a))
}

// DropFields removes fields by dotted name.
type DropFields struct {
	Fields        []string   `yaml:"fields"`
	IgnoreMissing bool       `yaml:"ignore_missing"`
	When          *Condition `yaml:"when"`
}

// Rename moves fields.
type Rename struct {
	Fields        []RenameField `yaml:"fields"`
	IgnoreMissing bool          `yaml:"ignore_missing"`
	FailOnError   bool          `yaml:"fail_on_error"`
	When          *Condition    `yaml:"when"`
}

// RenameField is one move: From becomes To.
type RenameField struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// UnmarshalYAML fills the defaults before decoding.
func (r *Rename) UnmarshalYAML(unmarshal func(any) error) error {
	*r = Rename{FailOnError: true}
	type plain Rename
	return unmarshal((*plain)(r))
}

// DropEvent drops events for which When holds.
type DropEvent struct {
	When *Condition `yaml:"when"`
}

// Dissect splits a field with a tokenizer such as "%{ts} %{level} %{msg}".
type Dissect struct {
	Tokenizer    string     `yaml:"tokenizer"`
	Field        string     `yaml:"field"`
	TargetPrefix string     `yaml:"target_prefix"`
	When         *Condition `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (d *Dissect) UnmarshalYAML(unmarshal func(any) error) error {
	*d = Dissect{Field: "message", TargetPrefix: "dissect"}
	type plain Dissect
	return unmarshal((*plain)(d))
}

// Timestamp parses a field into @timestamp (or TargetField).
type Timestamp struct {
	Field string `yaml:"field"`
	// Layouts are Go time layouts, or UNIX / UNIX_MS; the first that
	// parses wins.
	Layouts     []string   `yaml:"layouts"`
	Timezone    string     `yaml:"timezone"`
	TargetField string     `yaml:"target_field"`
	When        *Condition `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (t *Timestamp) UnmarshalYAML(unmarshal func(any) error) error {
	*t = Timestamp{TargetField: "@timestamp"}
	type plain Timestamp
	return unmarshal((*plain)(t))
}

// AddHostMetadata adds host.hostname, host.os.* and host.ip, looked up at
// most once per CacheTTL.
type AddHostMetadata struct {
	CacheTTL Duration   `yaml:"cache_ttl"`
	When     *Condition `yaml:"when"`
}

// UnmarshalYAML fills the defaults before decoding.
func (a *AddHostMetadata) UnmarshalYAML(unmarshal func(any) error) error {
	*a = AddHostMetadata{CacheTTL: Duration(5 * time.Minute)}
	type plain AddHostMetadata
	return unmarshal((*plain)(a))
}

// KubernetesMetadata enriches container events with their pod's labels
// and annotations from the API server.
type KubernetesMetadata struct {
	Enabled bool `yaml:"enabled"`
	// Node is the node whose pods are watched; $NODE_NAME when empty.
	Node string `yaml:"node"`
	// KubeConfig is a kubeconfig file; in-cluster config when empty.
	KubeConfig string `yaml:"kube_config"`
	// CleanupTimeout keeps a deleted pod's metadata this long, for the
	// lines it wrote last.
	CleanupTimeout Duration `yaml:"cleanup_timeout"`
	// IncludeAnnotations lists the annotations added; all (but
	// kubectl's last-applied-configuration) when empty.
	IncludeAnnotations []string `yaml:"include_annotations"`
}

// Container log formats and streams.
const (
	FormatAuto   = "auto"
	FormatCRI    = "cri"
	FormatDocker = "docker"
	StreamAll    = "all"
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)
