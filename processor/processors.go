package processor

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/logship/logship/condition"
	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/internal/dissect"
)

// processor changes an event; run returns false to drop it.
type processor interface {
	run(e *event.Event, host string) bool
}

// when runs a processor only for events its condition holds for.
type when struct {
	cond condition.Condition
	p    processor
}

func (w when) run(e *event.Event, host string) bool {
	if !w.cond(e) {
		return true
	}
	return w.p.run(e, host)
}

func compileProcessor(c *config.Processor, opts Options) (processor, error) {
	var p processor
	var cond *config.Condition
	switch {
	case c.AddFields != nil:
		p, cond = &addFields{target: c.AddFields.Target, fields: c.AddFields.Fields, extra: event.NewExtra(c.AddFields.Target, c.AddFields.Fields)}, c.AddFields.When
	case c.DropFields != nil:
		p, cond = &dropFields{cfg: *c.DropFields}, c.DropFields.When
	case c.Rename != nil:
		p, cond = &rename{cfg: *c.Rename}, c.Rename.When
	case c.DropEvent != nil:
		if c.DropEvent.When == nil {
			return nil, fmt.Errorf("drop_event needs when")
		}
		p, cond = dropEvent{}, c.DropEvent.When
	case c.Dissect != nil:
		pat, err := dissect.Parse(c.Dissect.Tokenizer)
		if err != nil {
			return nil, fmt.Errorf("dissect.tokenizer: %w", err)
		}
		p, cond = &dissector{cfg: *c.Dissect, pat: pat}, c.Dissect.When
	case c.Timestamp != nil:
		ts, err := newTimestamp(c.Timestamp)
		if err != nil {
			return nil, err
		}
		p, cond = ts, c.Timestamp.When
	case c.AddHostMetadata != nil:
		p, cond = newHostMetadata(c.AddHostMetadata.CacheTTL.D(), opts.Now, opts.Log), c.AddHostMetadata.When
	case c.DecodeJSON != nil:
		p, cond = &decodeJSONFields{cfg: *c.DecodeJSON}, c.DecodeJSON.When
	case c.AddTags != nil:
		p, cond = &addTags{cfg: *c.AddTags}, c.AddTags.When
	case c.CopyFields != nil:
		p, cond = &copyFields{cfg: *c.CopyFields}, c.CopyFields.When
	default:
		return nil, fmt.Errorf("no processor set")
	}
	if cond == nil {
		return p, nil
	}
	test, err := condition.New(*cond, "when")
	if err != nil {
		return nil, err
	}
	return when{cond: test, p: p}, nil
}

// doc returns the event's document, making it on first use.
func doc(e *event.Event, host string) map[string]any {
	if e.Doc == nil {
		e.Doc, e.Extra = e.MakeDoc(host), nil
	}
	return e.Doc
}

// addFields puts configured fields under a target ("" is the top level).
type addFields struct {
	target string
	fields map[string]any
	extra  *event.Extra // the same, to ride on an event without a document
}

func (a *addFields) run(e *event.Event, host string) bool {
	if e.CanAdd(a.extra) {
		e.Extra = a.extra // no document: the codec writes them as they are
		return true
	}
	d := doc(e, host)
	for k, v := range a.fields { // shared, never changed in place (see event.Put)
		if a.target == "" {
			event.Put(d, k, v)
		} else {
			event.Put(d, a.target+"."+k, v)
		}
	}
	return true
}

type dropFields struct{ cfg config.DropFields }

func (p *dropFields) run(e *event.Event, host string) bool {
	d := doc(e, host)
	for _, f := range p.cfg.Fields {
		if !event.Delete(d, f) && !p.cfg.IgnoreMissing {
			addError(d, "drop_fields: no field "+f)
		}
	}
	return true
}

type rename struct{ cfg config.Rename }

func (p *rename) run(e *event.Event, host string) bool {
	d := doc(e, host)
	for _, f := range p.cfg.Fields {
		v, ok := event.Lookup(d, f.From)
		if !ok {
			if !p.cfg.IgnoreMissing {
				addError(d, "rename: no field "+f.From)
			}
			continue
		}
		if _, exists := event.Lookup(d, f.To); exists && p.cfg.FailOnError {
			addError(d, "rename: "+f.To+" exists already")
			continue
		}
		event.Delete(d, f.From)
		event.Put(d, f.To, v)
	}
	return true
}

type dropEvent struct{}

func (dropEvent) run(*event.Event, string) bool { return false }

// dissector splits a field with a tokenizer, no regular expression.
type dissector struct {
	cfg config.Dissect
	pat *dissect.Pattern
}

func (p *dissector) run(e *event.Event, host string) bool {
	s, ok := fieldText(e, host, "dissect", p.cfg.Field)
	if !ok {
		return true
	}
	d := doc(e, host)
	target, prefix := d, p.cfg.TargetPrefix
	if prefix != "" {
		// Gathered apart, then put under the prefix at once (each Put
		// copies the object it writes into).
		old, _ := event.Lookup(d, prefix)
		m, _ := old.(map[string]any)
		if target = maps.Clone(m); target == nil {
			target = map[string]any{}
		}
	}
	if err := p.pat.Dissect(s, func(k, val string) { event.Put(target, k, val) }); err != nil {
		addError(d, "dissect: "+p.cfg.Field+" "+err.Error())
		return true
	}
	if prefix != "" {
		event.Put(d, prefix, target)
	}
	return true
}

// fieldText is a field's value as text for a processor; a missing field is
// recorded in error.message.
func fieldText(e *event.Event, host, processor, name string) (string, bool) {
	v, ok := e.Field(name)
	if !ok {
		addError(doc(e, host), processor+": no field "+name)
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	return fmt.Sprint(v), true
}

// timestamp parses a field into @timestamp.
type timestamp struct {
	cfg     config.Timestamp
	loc     *time.Location
	layouts []string
}

func newTimestamp(c *config.Timestamp) (*timestamp, error) {
	t := &timestamp{cfg: *c, loc: time.UTC, layouts: c.Layouts}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timestamp.timezone: %w", err)
		}
		t.loc = loc
	}
	return t, nil
}

func (p *timestamp) run(e *event.Event, host string) bool {
	s, ok := fieldText(e, host, "timestamp", p.cfg.Field)
	if !ok {
		return true
	}
	s = strings.TrimSpace(s)
	for _, layout := range p.layouts {
		if t, ok := parseTime(layout, s, p.loc); ok {
			if p.cfg.TargetField == "@timestamp" {
				e.Time = t
				if e.Doc != nil {
					e.Doc["@timestamp"] = t
				}
			} else {
				event.Put(doc(e, host), p.cfg.TargetField, t)
			}
			return true
		}
	}
	addError(doc(e, host), fmt.Sprintf("timestamp: %q matches none of the layouts", s))
	return true
}

func parseTime(layout, s string, loc *time.Location) (time.Time, bool) {
	switch layout {
	case "UNIX", "UNIX_MS":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, false
		}
		if layout == "UNIX_MS" {
			return time.UnixMilli(int64(f)).UTC(), true
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	}
	t, err := time.ParseInLocation(layout, s, loc)
	return t, err == nil
}

// addError records a processing problem in error.message; the event is
// shipped as it is.
func addError(d map[string]any, msg string) {
	if prev, ok := event.Lookup(d, "error.message"); ok {
		msg = fmt.Sprint(prev) + "; " + msg
	}
	event.Put(d, "error.message", msg)
}
