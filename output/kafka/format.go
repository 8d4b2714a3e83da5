package kafka

import (
	"fmt"
	"strings"

	"github.com/logship/logship/event"
)

// format is a compiled format string such as "logs-%{[fields.service]}" or
// "%{[fields.env]:dev}": literal text and field references with an
// optional default.
type format struct {
	parts  []formatPart
	static bool // no references: the text is parts[0].text
}

type formatPart struct {
	text   string // literal, or the field name
	field  bool
	def    string
	hasDef bool
}

func parseFormat(s, path string) (*format, error) {
	f := &format{static: true}
	for {
		i := strings.Index(s, "%{")
		if i < 0 {
			if s != "" {
				f.parts = append(f.parts, formatPart{text: s})
			}
			break
		}
		if i > 0 {
			f.parts = append(f.parts, formatPart{text: s[:i]})
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%s: unterminated %%{ in %q", path, s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":")
		if !strings.HasPrefix(name, "[") || !strings.HasSuffix(name, "]") || len(name) < 3 {
			return nil, fmt.Errorf("%s: %%{%s} is not a field reference like %%{[fields.service]}", path, ref)
		}
		f.parts = append(f.parts, formatPart{text: name[1 : len(name)-1], field: true, def: def, hasDef: hasDef})
		f.static = false
		s = s[i+end+1:]
	}
	if f.static && len(f.parts) == 0 {
		f.parts = []formatPart{{}}
	}
	return f, nil
}

// apply renders the format for e; it fails when a referenced field is
// missing and has no default.
func (f *format) apply(e *event.Event) (string, error) {
	if f.static {
		return f.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range f.parts {
		if !p.field {
			b.WriteString(p.text)
			continue
		}
		v, ok := e.Field(p.text)
		switch {
		case ok:
			fmt.Fprint(&b, v)
		case p.hasDef:
			b.WriteString(p.def)
		default:
			return "", fmt.Errorf("field %s is missing (give a default: %%{[%s]:default})", p.text, p.text)
		}
	}
	return b.String(), nil
}
