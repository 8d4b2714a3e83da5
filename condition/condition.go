// Package condition compiles the conditions of the configuration (equals,
// contains, regexp, has_fields, and, or, not) into tests on events. The Kafka
// output's topic rules use them; so will the processors.
package condition

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

// Condition tests an event.
type Condition func(e *event.Event) bool

// New compiles c; path names it in errors. An empty condition always holds.
func New(c config.Condition, path string) (Condition, error) {
	var tests []Condition
	for field, want := range c.Equals {
		w := text(want)
		tests = append(tests, func(e *event.Event) bool {
			if b, ok := line(e, field); ok {
				return string(b) == w
			}
			v, ok := e.Field(field)
			return ok && text(v) == w
		})
	}
	for field, sub := range c.Contains {
		subb := []byte(sub)
		tests = append(tests, func(e *event.Event) bool {
			if b, ok := line(e, field); ok {
				return bytes.Contains(b, subb)
			}
			v, ok := e.Field(field)
			return ok && strings.Contains(text(v), sub)
		})
	}
	for field, expr := range c.Regexp {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%s.regexp.%s: %w", path, field, err)
		}
		tests = append(tests, func(e *event.Event) bool {
			if b, ok := line(e, field); ok {
				return re.Match(b)
			}
			v, ok := e.Field(field)
			return ok && re.MatchString(text(v))
		})
	}
	if len(c.HasFields) > 0 {
		fields := c.HasFields
		tests = append(tests, func(e *event.Event) bool {
			for _, f := range fields {
				if _, ok := e.Field(f); !ok {
					return false
				}
			}
			return true
		})
	}
	if len(c.And) > 0 {
		subs, err := compileAll(c.And, path+".and")
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(e *event.Event) bool {
			for _, s := range subs {
				if !s(e) {
					return false
				}
			}
			return true
		})
	}
	if len(c.Or) > 0 {
		subs, err := compileAll(c.Or, path+".or")
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(e *event.Event) bool {
			for _, s := range subs {
				if s(e) {
					return true
				}
			}
			return false
		})
	}
	if c.Not != nil {
		sub, err := New(*c.Not, path+".not")
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(e *event.Event) bool { return !sub(e) })
	}
	return func(e *event.Event) bool {
		for _, t := range tests {
			if !t(e) {
				return false
			}
		}
		return true
	}, nil
}

func compileAll(cs []config.Condition, path string) ([]Condition, error) {
	out := make([]Condition, len(cs))
	for i, c := range cs {
		var err error
		if out[i], err = New(c, path+"["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// line is the event's line when field is its message and no document
// holds it: tested in place, without a copy.
func line(e *event.Event, field string) ([]byte, bool) {
	if field == "message" && e.Doc == nil {
		return e.Line, true
	}
	return nil, false
}

// text is a field value as it compares: strings as they are, numbers and
// booleans as written.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}
