package kafka

import (
	"fmt"
	"strconv"

	"github.com/IBM/sarama"

	"github.com/logship/logship/condition"
	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

// ReasonRouting is why an event is rejected when its topic or key cannot be
// formatted (a referenced field is missing and has no default).
const ReasonRouting = "routing"

// router picks each event's topic, key and headers.
type router struct {
	topic   *format
	rules   []rule
	key     *format // nil: no key
	headers []sarama.RecordHeader
	raw     bool // add log.file.path and log.offset headers

	lastSrc  *event.Source
	lastPath []byte
}

type rule struct {
	when  condition.Condition
	topic *format
}

func newRouter(k config.Kafka) (*router, error) {
	r := &router{raw: k.Codec == config.CodecRaw && (k.SourceHeaders == nil || *k.SourceHeaders)}
	var err error
	if r.topic, err = parseFormat(k.Topic, "output.kafka.topic"); err != nil {
		return nil, err
	}
	for i, tr := range k.Topics {
		path := "output.kafka.topics[" + strconv.Itoa(i) + "]"
		var ru rule
		if ru.topic, err = parseFormat(tr.Topic, path+".topic"); err != nil {
			return nil, err
		}
		if ru.when, err = condition.New(tr.When, path+".when"); err != nil {
			return nil, err
		}
		r.rules = append(r.rules, ru)
	}
	if k.Key != "" {
		if r.key, err = parseFormat(k.Key, "output.kafka.key"); err != nil {
			return nil, err
		}
	}
	for _, h := range k.Headers {
		r.headers = append(r.headers, sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)})
	}
	return r, nil
}

// simple reports whether every event gets the same topic and no key.
func (r *router) simple() bool {
	return r.topic.static && len(r.rules) == 0 && r.key == nil
}

// route fills m's topic and key for e.
func (r *router) route(m *sarama.ProducerMessage, e *event.Event) error {
	f := r.topic
	for _, ru := range r.rules {
		if ru.when(e) {
			f = ru.topic
			break
		}
	}
	topic, err := f.apply(e)
	if err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	m.Topic = topic
	if r.key != nil {
		key, err := r.key.apply(e)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		m.Key = sarama.StringEncoder(key)
	}
	return nil
}

// headerCount is how many headers each record gets.
func (r *router) headerCount() int {
	n := len(r.headers)
	if r.raw {
		n += 2
	}
	return n
}

// appendHeaders appends e's headers to hs, their values to buf.
func (r *router) appendHeaders(hs []sarama.RecordHeader, buf []byte, e *event.Event) ([]sarama.RecordHeader, []byte) {
	hs = append(hs, r.headers...)
	if !r.raw {
		return hs, buf
	}
	if e.Source != r.lastSrc {
		r.lastSrc, r.lastPath = e.Source, []byte(e.Source.Path)
	}
	start := len(buf)
	buf = strconv.AppendInt(buf, e.Offset, 10)
	hs = append(hs,
		sarama.RecordHeader{Key: headerPath, Value: r.lastPath},
		sarama.RecordHeader{Key: headerOffset, Value: buf[start:len(buf):len(buf)]})
	return hs, buf
}

var (
	headerPath   = []byte("log.file.path")
	headerOffset = []byte("log.offset")
)
