// Package dissect splits text with a tokenizer such as
// "%{ts} [%{level}] %{msg}": literal text between the keys delimits the
// values, found left to right, without a regular expression.
//
// Keys: %{name} keeps a value; %{} and %{?name} skip one; %{+name} appends
// to name (joined by a space); a key ending in -> (%{name->}) also skips
// repeats of the delimiter after it (padding). The last key takes the rest.
package dissect

import (
	"errors"
	"fmt"
	"strings"
)

// Pattern is a parsed tokenizer; safe for concurrent use.
type Pattern struct {
	prefix string
	fields []field
}

type field struct {
	key    string
	skip   bool
	append bool
	pad    bool
	delim  string // text after the value; empty only for the last field
}

// ErrNoMatch is returned when text does not have the pattern's shape.
var ErrNoMatch = errors.New("does not match the tokenizer")

// Parse parses a tokenizer.
func Parse(tok string) (*Pattern, error) {
	p := &Pattern{}
	rest := tok
	i := strings.Index(rest, "%{")
	if i < 0 {
		return nil, errors.New("tokenizer has no %{key}")
	}
	p.prefix, rest = rest[:i], rest[i:]
	for rest != "" {
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed %%{ in %q", rest)
		}
		var f field
		k := rest[2:end]
		if strings.HasSuffix(k, "->") {
			f.pad, k = true, strings.TrimSuffix(k, "->")
		}
		switch {
		case k == "":
			f.skip = true
		case k[0] == '?':
			f.skip, k = true, k[1:]
		case k[0] == '+':
			f.append, k = true, k[1:]
		}
		if strings.ContainsAny(k, "%{") {
			return nil, fmt.Errorf("invalid key %q", k)
		}
		f.key = k
		rest = rest[end+1:]
		next := strings.Index(rest, "%{")
		if next < 0 {
			next = len(rest)
		}
		f.delim, rest = rest[:next], rest[next:]
		if f.delim == "" && rest != "" {
			return nil, fmt.Errorf("keys %q and the next have no text between them", k)
		}
		p.fields = append(p.fields, f)
	}
	return p, nil
}

// Dissect matches s and calls put for each kept key with its value, in
// order; appended keys are joined first. On ErrNoMatch put is not called.
func (p *Pattern) Dissect(s string, put func(key, value string)) error {
	if !strings.HasPrefix(s, p.prefix) {
		return ErrNoMatch
	}
	rest := s[len(p.prefix):]
	var vals [16]string
	values := vals[:0]
	for _, f := range p.fields {
		var v string
		if f.delim == "" { // the last key: the rest
			v, rest = rest, ""
		} else {
			j := strings.Index(rest, f.delim)
			if j < 0 {
				return ErrNoMatch
			}
			v, rest = rest[:j], rest[j+len(f.delim):]
			if f.pad {
				for strings.HasPrefix(rest, f.delim) {
					rest = rest[len(f.delim):]
				}
			}
		}
		values = append(values, v)
	}
	if rest != "" {
		return ErrNoMatch
	}
	for i, f := range p.fields {
		if f.skip || f.append {
			continue
		}
		v := values[i]
		// Appended parts of this key, in order.
		for j, g := range p.fields {
			if g.append && g.key == f.key && j != i {
				v += " " + values[j]
			}
		}
		put(f.key, v)
	}
	// Appended keys with no plain key of their name.
	for i, f := range p.fields {
		if !f.append || p.hasPlain(f.key) || p.firstAppend(f.key) != i {
			continue
		}
		v := values[i]
		for j := i + 1; j < len(p.fields); j++ {
			if g := p.fields[j]; g.append && g.key == f.key {
				v += " " + values[j]
			}
		}
		put(f.key, v)
	}
	return nil
}

func (p *Pattern) hasPlain(key string) bool {
	for _, f := range p.fields {
		if !f.skip && !f.append && f.key == key {
			return true
		}
	}
	return false
}

func (p *Pattern) firstAppend(key string) int {
	for i, f := range p.fields {
		if f.append && f.key == key {
			return i
		}
	}
	return -1
}
