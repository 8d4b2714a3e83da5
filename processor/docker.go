package processor

import (
	"encoding/json"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// docker's json-file records look like {"log":"…\n","stream":"stdout",
// "time":"…"}. decodeDockerFast reads that shape without encoding/json (it
// is every line of a node's containers); anything else (other keys, other
// value types, escapes in keys) is left to encoding/json by returning
// ok=false.
func decodeDockerFast(line, buf []byte) (log []byte, stream, ts []byte, ok bool) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, nil, nil, false
	}
	i++
	log = buf[:0]
	seen := 0
	for {
		i = skipSpace(line, i)
		if i < len(line) && line[i] == '}' && seen == 0 {
			break
		}
		key, next, plain := scanString(line, i)
		if !plain {
			return nil, nil, nil, false
		}
		i = skipSpace(line, next)
		if i >= len(line) || line[i] != ':' {
			return nil, nil, nil, false
		}
		i = skipSpace(line, i+1)
		switch string(key) {
		case "log":
			var good bool
			log, i, good = unquote(line, i, buf[:0]) // a repeated key: the last wins
			if !good {
				return nil, nil, nil, false
			}
		case "stream", "time":
			v, next, plain := scanString(line, i)
			if !plain {
				return nil, nil, nil, false
			}
			if key[0] == 's' {
				stream = v
			} else {
				ts = v
			}
			i = next
		default:
			return nil, nil, nil, false
		}
		seen++
		i = skipSpace(line, i)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i < len(line) && line[i] == '}' {
			break
		}
		return nil, nil, nil, false
	}
	if skipSpace(line, i+1) != len(line) {
		return nil, nil, nil, false
	}
	return log, stream, ts, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString reads a JSON string at b[i] that holds no escapes and only
// printable ASCII or valid UTF-8; plain is false otherwise.
func scanString(b []byte, i int) (s []byte, next int, plain bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s = b[i+1 : j]
			return s, j + 1, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

// unquote appends the JSON string at b[i] to dst, unescaped.
func unquote(b []byte, i int, dst []byte) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return dst, i, false
	}
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return dst, i + 1, true
		case c < 0x20:
			return dst, i, false
		case c != '\\':
			// A run without escapes, copied at once.
			j := i + 1
			for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] >= 0x20 {
				j++
			}
			if !utf8.Valid(b[i:j]) {
				return dst, i, false
			}
			dst = append(dst, b[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(b) {
			return dst, i, false
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(b, i+2)
			if n < 0 {
				return dst, i, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, n2 := rune(-1), -1
				if i+7 < len(b) && b[i+2] == '\\' && b[i+3] == 'u' {
					r2, n2 = hex4(b, i+4)
				}
				if dec := utf16.DecodeRune(r, r2); n2 >= 0 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, i, false
		}
		i += 2
	}
	return dst, i, false
}

func hex4(b []byte, i int) (rune, int) {
	if i+4 > len(b) {
		return 0, -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, -1
		}
		r = r<<4 | rune(c)
	}
	return r, 4
}

// decodeDockerSlow is encoding/json's reading of the same record.
func decodeDockerSlow(line []byte, js *dockerLine) bool {
	*js = dockerLine{}
	return json.Unmarshal(line, js) == nil
}

func parseDockerTime(ts []byte) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	return t, err == nil
}
