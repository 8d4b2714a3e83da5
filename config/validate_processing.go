package config

import (
	"regexp"
	"strconv"
	"time"

	"github.com/logship/logship/internal/dissect"
	"github.com/logship/logship/internal/textenc"
)

// processing checks an input's line processing: encoding, container
// options, multiline, parsers, filters and processors.
func (in *Input) processing(v *validator, path string) {
	if enc, err := textenc.Lookup(in.Encoding); err != nil {
		v.add(path+".encoding", "%v", err)
	} else if enc.UTF16 && in.StartPosition == StartEnd {
		v.add(path+".start_position", "end is not supported with encoding %s; use beginning", in.Encoding)
	}
	v.oneOf(path+".format", in.Format, FormatAuto, FormatCRI, FormatDocker)
	v.oneOf(path+".stream", in.Stream, StreamAll, StreamStdout, StreamStderr)
	if in.Type != InputContainer {
		if in.Format != FormatAuto {
			v.add(path+".format", "applies to type: container only")
		}
		if in.Stream != StreamAll {
			v.add(path+".stream", "applies to type: container only")
		}
		if in.AddKubernetesMetadata.Enabled {
			v.add(path+".add_kubernetes_metadata", "applies to type: container only")
		}
	}
	if k := in.AddKubernetesMetadata; k.Enabled && k.CleanupTimeout < 0 {
		v.add(path+".add_kubernetes_metadata.cleanup_timeout", "must not be negative")
	}
	if in.Multiline != nil {
		v.multiline(path+".multiline", in.Multiline)
	}
	sawJSON := false
	for i, p := range in.Parsers {
		pp := path + ".parsers[" + strconv.Itoa(i) + "]"
		switch {
		case p.Multiline != nil && p.NDJSON != nil, p.Multiline == nil && p.NDJSON == nil:
			v.add(pp, "set exactly one of multiline, ndjson")
		case p.Multiline != nil:
			if sawJSON {
				v.add(pp+".multiline", "must come before ndjson: lines are joined before they are decoded")
			}
			if in.Multiline != nil {
				v.add(pp+".multiline", "the input already has multiline; use one")
			}
			v.multiline(pp+".multiline", p.Multiline)
		default:
			sawJSON = true
		}
	}
	for i, re := range in.IncludeLines {
		v.regexp(path+".include_lines["+strconv.Itoa(i)+"]", re)
	}
	for i, re := range in.ExcludeLines {
		v.regexp(path+".exclude_lines["+strconv.Itoa(i)+"]", re)
	}
	for i := range in.Processors {
		v.processor(path+".processors["+strconv.Itoa(i)+"]", &in.Processors[i])
	}
}

func (v *validator) regexp(path, re string) {
	if _, err := regexp.Compile(re); err != nil {
		v.add(path, "invalid regular expression: %v", err)
	}
}

func (v *validator) multiline(path string, m *Multiline) {
	v.oneOf(path+".type", m.Type, MultilinePattern, MultilineCount, MultilineWhilePattern)
	switch m.Type {
	case MultilinePattern, MultilineWhilePattern:
		if m.Pattern == "" {
			v.add(path+".pattern", "must not be empty with type %s", m.Type)
		} else {
			v.regexp(path+".pattern", m.Pattern)
		}
		if m.Type == MultilinePattern {
			v.oneOf(path+".match", m.Match, MatchAfter, MatchBefore)
		}
	case MultilineCount:
		v.positive(path+".count_lines", int64(m.CountLines))
	}
	if m.FlushPattern != "" {
		v.regexp(path+".flush_pattern", m.FlushPattern)
	}
	v.positive(path+".max_lines", int64(m.MaxLines))
	v.positive(path+".max_bytes", int64(m.MaxBytes))
	v.positive(path+".timeout", int64(m.Timeout))
}

func (v *validator) processor(path string, p *Processor) {
	set := 0
	var when *Condition
	whenPath := ""
	if a := p.AddFields; a != nil {
		set++
		when, whenPath = a.When, path+".add_fields.when"
		if len(a.Fields) == 0 {
			v.add(path+".add_fields.fields", "must not be empty")
		}
	}
	if d := p.DropFields; d != nil {
		set++
		when, whenPath = d.When, path+".drop_fields.when"
		if len(d.Fields) == 0 {
			v.add(path+".drop_fields.fields", "must not be empty")
		}
	}
	if r := p.Rename; r != nil {
		set++
		when, whenPath = r.When, path+".rename.when"
		v.moves(path+".rename.fields", r.Fields)
	}
	if d := p.DropEvent; d != nil {
		set++
		when, whenPath = d.When, path+".drop_event.when"
		if d.When == nil {
			v.add(path+".drop_event", "needs when: a condition (without one every event would be dropped)")
		}
	}
	if d := p.Dissect; d != nil {
		set++
		when, whenPath = d.When, path+".dissect.when"
		if _, err := dissect.Parse(d.Tokenizer); err != nil {
			v.add(path+".dissect.tokenizer", "%v", err)
		}
		if d.Field == "" {
			v.add(path+".dissect.field", "must not be empty")
		}
	}
	if ts := p.Timestamp; ts != nil {
		set++
		when, whenPath = ts.When, path+".timestamp.when"
		if ts.Field == "" {
			v.add(path+".timestamp.field", "must not be empty")
		}
		if len(ts.Layouts) == 0 {
			v.add(path+".timestamp.layouts", "must not be empty (Go layouts such as 2006-01-02T15:04:05Z07:00, or UNIX, UNIX_MS)")
		}
		if ts.Timezone != "" {
			if _, err := time.LoadLocation(ts.Timezone); err != nil {
				v.add(path+".timestamp.timezone", "%v", err)
			}
		}
		if ts.TargetField == "" {
			v.add(path+".timestamp.target_field", "must not be empty")
		}
	}
	if a := p.AddHostMetadata; a != nil {
		set++
		when, whenPath = a.When, path+".add_host_metadata.when"
		v.positive(path+".add_host_metadata.cache_ttl", int64(a.CacheTTL))
	}
	if d := p.DecodeJSON; d != nil {
		set++
		when, whenPath = d.When, path+".decode_json_fields.when"
		if len(d.Fields) == 0 {
			v.add(path+".decode_json_fields.fields", "must not be empty")
		}
		v.positive(path+".decode_json_fields.max_depth", int64(d.MaxDepth))
	}
	if a := p.AddTags; a != nil {
		set++
		when, whenPath = a.When, path+".add_tags.when"
		if len(a.Tags) == 0 {
			v.add(path+".add_tags.tags", "must not be empty")
		}
		if a.Target == "" {
			v.add(path+".add_tags.target", "must not be empty")
		}
	}
	if c := p.CopyFields; c != nil {
		set++
		when, whenPath = c.When, path+".copy_fields.when"
		v.moves(path+".copy_fields.fields", c.Fields)
	}
	if set != 1 {
		v.add(path, "set exactly one of %s", processorNames)
	}
	if when != nil {
		v.condition(whenPath, *when)
	}
}

// moves checks rename's and copy_fields' list of from and to.
func (v *validator) moves(path string, fields []RenameField) {
	if len(fields) == 0 {
		v.add(path, "must not be empty")
	}
	for i, f := range fields {
		if f.From == "" || f.To == "" {
			v.add(path+"["+strconv.Itoa(i)+"]", "needs from and to")
		}
	}
}
