package filebeat

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/logship/logship/internal/yamlpath"
)

// output translates output.kafka; other outputs are notes.
func (t *translation) output() *object {
	out := newObject()
	k := newObject()
	kafka, key := take(t.root, "output.kafka")
	if kafka == nil {
		line := 0
		if o := yamlpath.Key(t.root, "output"); o != nil {
			line = o.Line
		}
		t.note(line, "output", "logship ships to Kafka only: output.kafka.hosts is set to ${KAFKA_BROKER}; set it")
		k.set("hosts", []string{"${KAFKA_BROKER}"})
		out.set("kafka", k)
		return out
	}
	if v, _ := take(kafka, "enabled"); v != nil && !isTrue(v) {
		t.note(key.Line, "output.kafka.enabled", "false in Filebeat; logship's one output is Kafka, carried over enabled")
	}
	moves(kafka, k, same("hosts", "topic", "key", "client_id", "version", "required_acks", "compression", "compression_level",
		"max_message_bytes", "bulk_max_size", "bulk_flush_frequency", "timeout", "broker_timeout", "keep_alive", "headers")...)
	moves(kafka, k, [2]string{"backoff.init", "retry.backoff"}, [2]string{"backoff.max", "retry.max_backoff"},
		[2]string{"metadata.refresh_frequency", "metadata.refresh_frequency"}, [2]string{"metadata.retry.max", "metadata.retry.max"},
		[2]string{"metadata.retry.backoff", "metadata.retry.backoff"})
	if yamlpath.Value(k.node, "hosts") == nil {
		k.set("hosts", []string{"${KAFKA_BROKER}"})
		t.note(key.Line, "output.kafka.hosts", "not set in Filebeat; set to ${KAFKA_BROKER}")
	}
	if topics, _ := take(kafka, "topics"); topics != nil {
		t.topics("output.kafka.topics", topics, k)
	}
	t.partition(kafka, k)
	t.codec(kafka, k)
	t.security(kafka, k)
	t.refuse(kafka, "output.kafka", "logship retries until delivered: a line is never dropped after retries", "max_retries")
	t.refuse(kafka, "output.kafka", "sarama's defaults are kept", "channel_buffer_size", "worker", "workers", "metadata.full")
	t.leftovers("output.kafka", kafka)
	k.first("hosts", "topic", "topics", "key", "partition", "codec")
	out.set("kafka", k)
	for _, other := range []string{"elasticsearch", "logstash", "redis", "file", "console", "discard"} {
		if v, key := take(t.root, "output."+other); v != nil {
			t.note(key.Line, "output."+other, "logship ships to Kafka only")
		}
	}
	return out
}

// topics translates output.kafka.topics: rules of a topic and a
// condition, the first that holds naming the event's topic.
func (t *translation) topics(path string, topics *yaml.Node, k *object) {
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i, r := range topics.Content {
		rp := fmt.Sprintf("%s[%d]", path, i)
		o := newObject()
		moves(r, o, same("topic")...)
		if w, key := take(r, "when"); w != nil {
			cond, ok := t.condition(rp+".when", w)
			if !ok {
				t.note(key.Line, rp, "left out: its condition cannot be carried over (see the notes on when)")
				r.Content = nil
				continue
			}
			o.set("when", cond)
		}
		t.refuse(r, rp, "write one rule per value, with an equals condition", "mappings")
		t.refuse(r, rp, "a rule without when, last, is the default", "default")
		t.leftovers(rp, r)
		list.Content = append(list.Content, o.node)
	}
	topics.Content = nil
	if len(list.Content) > 0 {
		k.set("topics", list)
	}
}

func (t *translation) partition(kafka *yaml.Node, k *object) {
	p, _ := take(kafka, "partition")
	if p == nil || p.Kind != yaml.MappingNode {
		return
	}
	part := newObject()
	for i := 0; i+1 < len(p.Content); i += 2 {
		name, opts := p.Content[i].Value, p.Content[i+1]
		path := "output.kafka.partition." + name
		switch name {
		case "round_robin", "random":
			part.set(name, map[string]any{})
			t.refuse(opts, path, "records of one batch go to one partition, chosen anew for each batch", "group_events")
			t.refuse(opts, path, "a partition is chosen among those with a leader", "reachable_only")
		case "hash":
			part.set("hash", map[string]any{})
			if fields, key := take(opts, "hash"); fields != nil && len(fields.Content) > 0 {
				if len(fields.Content) == 1 && yamlpath.Value(k.node, "key") == nil {
					k.set("key", "%{["+fields.Content[0].Value+"]}")
				} else {
					t.note(key.Line, path+".hash", "logship hashes the record key: set key to a format of the fields")
				}
			}
			t.refuse(opts, path, "a partition is chosen among those with a leader", "reachable_only")
			t.refuse(opts, path, "not supported", "random")
		default:
			t.note(p.Content[i].Line, path, "partitioner "+name+" is not supported (hash, round_robin, random)")
			opts.Content = nil
			continue
		}
		t.leftovers(path, opts)
	}
	p.Content = nil
	if !part.empty() {
		k.set("partition", part)
	}
}

func (t *translation) codec(kafka *yaml.Node, k *object) {
	if v, key := take(kafka, "codec.format.string"); v != nil {
		if strings.TrimSpace(v.Value) == "%{[message]}" {
			k.set("codec", "raw")
		} else {
			t.note(key.Line, "output.kafka.codec.format.string", "logship's codecs are json and raw (the message alone, as %{[message]})")
		}
	}
	if c, _ := take(kafka, "codec.json"); c != nil {
		k.set("codec", "json")
		t.refuse(c, "output.kafka.codec.json", "logship writes compact JSON", "pretty", "escape_html")
		t.leftovers("output.kafka.codec.json", c)
	}
}

func (t *translation) security(kafka *yaml.Node, k *object) {
	sasl := newObject()
	moves(kafka, sasl, [2]string{"sasl.mechanism", "mechanism"}, [2]string{"username", "username"}, [2]string{"password", "password"})
	if !sasl.empty() {
		if yamlpath.Value(sasl.node, "mechanism") == nil {
			sasl.set("mechanism", "PLAIN") // Filebeat's default with a username
		}
		k.set("sasl", sasl)
	}
	tls := newObject()
	ssl, _ := take(kafka, "ssl")
	if ssl == nil {
		return
	}
	enabled := true
	if v, _ := take(ssl, "enabled"); v != nil && !isTrue(v) {
		enabled = false
	}
	tls.set("enabled", enabled)
	moves(ssl, tls, same("certificate_authorities", "certificate", "key", "verification_mode")...)
	t.refuse(ssl, "output.kafka.ssl", "Go's TLS defaults (TLS 1.2 and newer, its cipher suites) are used", "supported_protocols", "cipher_suites", "curve_types", "renegotiation")
	t.refuse(ssl, "output.kafka.ssl", "write the key unencrypted, readable by logship only", "key_passphrase", "key_passphrase_path")
	t.refuse(ssl, "output.kafka.ssl", "not supported", "ca_trusted_fingerprint", "ca_sha256")
	t.leftovers("output.kafka.ssl", ssl)
	k.set("tls", tls)
}
