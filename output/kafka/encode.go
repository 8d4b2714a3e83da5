package kafka

import (
	"strconv"
	"time"

	"github.com/logship/logship/event"
)

// encoder turns events into record values. It is used by one goroutine (the
// spooler's, through Publish) and caches what repeats between events.
type encoder struct {
	raw      bool
	hostName string

	lastTime time.Time
	timeBuf  []byte
	lastSrc  *event.Source
	srcHead  []byte // `,"file":{"path":"..."}}` …
	srcTail  []byte // `,"input":{…},"host":{…},"fields":{…}}`
}

// appendValue appends e's record value to buf.
func (enc *encoder) appendValue(buf []byte, e *event.Event) []byte {
	if e.Doc != nil {
		if msg, ok := e.Doc["message"].(string); ok && enc.raw {
			return append(buf, msg...)
		}
		// Without a message, codec raw writes the whole event too:
		// nothing a processor made is lost.
		return event.AppendJSON(buf, e.Doc)
	}
	if enc.raw {
		return append(buf, e.Line...)
	}
	return enc.appendJSON(buf, e)
}

// appendJSON writes the event with Filebeat's field names:
// {"@timestamp":…,"message":…,"log":{"offset":…,"file":{"path":…}},
// "input":{"type":…},"host":{"name":…},"fields":{…}}
func (enc *encoder) appendJSON(buf []byte, e *event.Event) []byte {
	if !e.Time.Equal(enc.lastTime) || enc.timeBuf == nil {
		enc.lastTime = e.Time
		enc.timeBuf = e.Time.UTC().AppendFormat(enc.timeBuf[:0], event.TimeLayout)
	}
	if e.Source != enc.lastSrc {
		enc.source(e.Source)
	}
	buf = append(buf, `{"@timestamp":"`...)
	buf = append(buf, enc.timeBuf...)
	buf = append(buf, `","message":`...)
	buf = event.AppendString(buf, e.Line)
	buf = append(buf, `,"log":{"offset":`...)
	buf = strconv.AppendInt(buf, e.Offset, 10)
	if e.Truncated || e.Flags&^event.FlagCommit != 0 {
		buf = append(buf, `,"flags":`...)
		var names [6]string
		buf = event.AppendJSON(buf, e.FlagNames(names[:0]))
	}
	buf = append(buf, enc.srcHead...)
	if e.Meta != nil && len(e.Meta.JSON) > 0 {
		buf = append(buf, ',')
		buf = append(buf, e.Meta.JSON...)
	}
	if e.Extra != nil {
		buf = append(buf, ',')
		buf = append(buf, e.Extra.JSON...)
	}
	return append(buf, enc.srcTail...)
}

func (enc *encoder) source(src *event.Source) {
	enc.lastSrc = src
	enc.srcHead = append(enc.srcHead[:0], `,"file":{"path":`...)
	enc.srcHead = event.AppendString(enc.srcHead, []byte(src.Path))
	enc.srcHead = append(enc.srcHead, `}}`...)
	in := src.Input
	typ := "log"
	if in != nil && in.Type != "" {
		typ = in.Type
	}
	t := append(enc.srcTail[:0], `,"input":{"type":`...)
	t = event.AppendString(t, []byte(typ))
	t = append(t, `},"host":{"name":`...)
	t = event.AppendString(t, []byte(enc.hostName))
	t = append(t, '}')
	if in != nil && len(in.FieldsJSON) > 2 { // more than "{}"
		if in.FieldsUnderRoot {
			t = append(t, ',')
			t = append(t, in.FieldsJSON[1:len(in.FieldsJSON)-1]...)
		} else {
			t = append(t, `,"fields":`...)
			t = append(t, in.FieldsJSON...)
		}
	}
	enc.srcTail = append(t, '}')
}
