package kafka

import (
	"strconv"
	"time"
	"unicode/utf8"

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
		enc.timeBuf = e.Time.UTC().AppendFormat(enc.timeBuf[:0], "2006-01-02T15:04:05.000Z")
	}
	if e.Source != enc.lastSrc {
		enc.source(e.Source)
	}
	buf = append(buf, `{"@timestamp":"`...)
	buf = append(buf, enc.timeBuf...)
	buf = append(buf, `","message":`...)
	buf = appendString(buf, e.Line)
	buf = append(buf, `,"log":{"offset":`...)
	buf = strconv.AppendInt(buf, e.Offset, 10)
	if e.Truncated {
		buf = append(buf, `,"flags":["truncated"]`...)
	}
	buf = append(buf, enc.srcHead...)
	return append(buf, enc.srcTail...)
}

func (enc *encoder) source(src *event.Source) {
	enc.lastSrc = src
	enc.srcHead = append(enc.srcHead[:0], `,"file":{"path":`...)
	enc.srcHead = appendString(enc.srcHead, []byte(src.Path))
	enc.srcHead = append(enc.srcHead, `}}`...)
	in := src.Input
	typ := "log"
	if in != nil && in.Type != "" {
		typ = in.Type
	}
	t := append(enc.srcTail[:0], `,"input":{"type":`...)
	t = appendString(t, []byte(typ))
	t = append(t, `},"host":{"name":`...)
	t = appendString(t, []byte(enc.hostName))
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

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so every value is valid JSON.
func appendString(buf, s []byte) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript consumers.
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
