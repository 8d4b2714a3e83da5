package processor

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/harvester"
)

// Options are what a pipeline needs beyond its input's configuration.
type Options struct {
	// HostName is host.name in events.
	HostName string
	// Pods looks up pod metadata (add_kubernetes_metadata); nil when off.
	Pods PodLookup
	Log  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Pipeline is the compiled line processing of one input.
type Pipeline struct {
	opts      Options
	maxBytes  int
	container *containerConfig // nil unless type: container
	multiline *multilineConfig // nil when off
	parsers   []parser
	include   []*matcher
	exclude   []*matcher
	procs     []processor
	kube      bool
}

// New compiles an input's line processing. It returns nil when the input
// configures none: its lines are shipped as they are read.
func New(in *config.Input, opts Options) (*Pipeline, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	p := &Pipeline{opts: opts, maxBytes: int(in.MaxBytes), kube: in.AddKubernetesMetadata.Enabled}
	if in.Type == config.InputContainer {
		p.container = &containerConfig{format: in.Format, stream: in.Stream}
	}
	var err error
	if in.Multiline != nil {
		if p.multiline, err = compileMultiline(in.Multiline); err != nil {
			return nil, fmt.Errorf("multiline: %w", err)
		}
	}
	for i, pc := range in.Parsers {
		switch {
		case pc.Multiline != nil:
			if p.multiline, err = compileMultiline(pc.Multiline); err != nil {
				return nil, fmt.Errorf("parsers[%d].multiline: %w", i, err)
			}
		case pc.NDJSON != nil:
			p.parsers = append(p.parsers, newNDJSON(pc.NDJSON))
		}
	}
	if p.include, err = compileMatchers("include_lines", in.IncludeLines); err != nil {
		return nil, err
	}
	if p.exclude, err = compileMatchers("exclude_lines", in.ExcludeLines); err != nil {
		return nil, err
	}
	for i := range in.Processors {
		pr, err := compileProcessor(&in.Processors[i], opts)
		if err != nil {
			return nil, fmt.Errorf("processors[%d]: %w", i, err)
		}
		p.procs = append(p.procs, pr)
	}
	if p.container == nil && p.multiline == nil && len(p.parsers) == 0 && len(p.include) == 0 &&
		len(p.exclude) == 0 && len(p.procs) == 0 {
		return nil, nil
	}
	return p, nil
}

// Chain returns the processor for one file.
func (p *Pipeline) Chain(src *event.Source) harvester.Processor {
	c := &Chain{p: p, src: src}
	if p.container != nil {
		c.ctr = newContainer(p, src)
	}
	return c
}

// unit is a line (or several joined) on its way through the steps.
type unit struct {
	text          []byte
	offset, end   int64
	before, after fileid.Position
	time          time.Time // the event's @timestamp
	read          time.Time // when the line was read
	truncated     bool
	flags         event.Flag
	stream        int // 0 outside containers; streamStdout, streamStderr
	meta          *event.Meta
}

// Chain is one file's processing; used by its harvester's goroutine only.
type Chain struct {
	p   *Pipeline
	src *event.Source
	ctr *container
	// ml holds a multiline state per stream (index 0 outside containers).
	ml  [3]*multiline
	out []event.Event
	// arena holds the lines of out's events.
	arena []byte
}

var _ harvester.Processor = (*Chain)(nil)

// Line implements harvester.Processor.
func (c *Chain) Line(r *event.Raw) {
	c.reset()
	u := unit{text: r.Text, offset: r.Offset, end: r.End, before: r.Before, after: r.After, time: r.Time, read: r.Time, truncated: r.Truncated, flags: r.Flags}
	if c.ctr != nil {
		c.ctr.line(c, &u)
		return
	}
	c.joined(&u)
}

// joined takes a complete line (container partials joined) to multiline.
func (c *Chain) joined(u *unit) {
	if c.p.multiline == nil {
		c.event(u)
		return
	}
	m := c.ml[u.stream]
	if m == nil {
		m = newMultiline(c.p.multiline)
		c.ml[u.stream] = m
	}
	m.line(c, u)
}

// Expire implements harvester.Processor.
func (c *Chain) Expire(now time.Time) {
	c.reset()
	for _, m := range c.ml {
		if m != nil && m.expired(now) {
			m.flush(c)
		}
	}
}

// Flush implements harvester.Processor.
func (c *Chain) Flush() {
	c.reset()
	if c.ctr != nil {
		c.ctr.flush(c)
	}
	for _, m := range c.ml {
		if m != nil {
			m.flush(c)
		}
	}
}

// Deadline implements harvester.Processor.
func (c *Chain) Deadline() time.Time {
	var d time.Time
	for _, m := range c.ml {
		if m != nil && m.n > 0 && (d.IsZero() || m.deadline.Before(d)) {
			d = m.deadline
		}
	}
	return d
}

// Pending implements harvester.Processor.
func (c *Chain) Pending() (fileid.Position, bool) {
	var p fileid.Position
	found := false
	take := func(q fileid.Position) {
		if !found || q.Offset < p.Offset {
			p, found = q, true
		}
	}
	for _, m := range c.ml {
		if m != nil && m.n > 0 {
			take(m.first.before)
		}
	}
	if c.ctr != nil {
		for i := range c.ctr.parts {
			if pt := &c.ctr.parts[i]; pt.n > 0 {
				take(pt.first.before)
			}
		}
	}
	return p, found
}

// Events implements harvester.Processor.
func (c *Chain) Events() []event.Event { return c.out }

func (c *Chain) reset() {
	c.out, c.arena = c.out[:0], c.arena[:0]
}

// commit is where reading may resume once an event ending at after is
// delivered: not past the first line of an event still pending.
func (c *Chain) commit(after fileid.Position) fileid.Position {
	if p, ok := c.Pending(); ok && p.Offset < after.Offset {
		return p
	}
	return after
}

// skip records that u was read and dropped.
func (c *Chain) skip(u *unit) {
	c.out = append(c.out, event.Event{Skip: true, Offset: u.offset, End: u.end, Flags: event.FlagCommit, Commit: c.commit(u.after)})
}

// event runs a complete event through parsers, filters and processors and
// adds it to the output.
func (c *Chain) event(u *unit) {
	// Built in place in out: a local passed to the steps would escape.
	c.out = append(c.out, event.Event{
		Source: c.src, Line: u.text, Offset: u.offset, End: u.end, Time: u.time,
		Truncated: u.truncated, Flags: u.flags | event.FlagCommit, Meta: u.meta, Commit: c.commit(u.after),
	})
	e := &c.out[len(c.out)-1]
	for _, p := range c.p.parsers {
		p.parse(e, c.p.opts.HostName)
	}
	keep := true
	if len(c.p.include) > 0 || len(c.p.exclude) > 0 {
		msg := message(e)
		keep = (len(c.p.include) == 0 || anyMatch(c.p.include, msg)) && !anyMatch(c.p.exclude, msg)
	}
	for _, p := range c.p.procs {
		if !keep {
			break
		}
		keep = p.run(e, c.p.opts.HostName)
	}
	if !keep {
		c.out = c.out[:len(c.out)-1]
		c.skip(u)
		return
	}
	if e.Doc != nil {
		e.DocSize = int32(min(event.DocSize(e.Doc), 1<<30))
	}
	// The line is copied: u.text may be the harvester's or a step's buffer.
	start := len(c.arena)
	c.arena = append(c.arena, e.Line...)
	e.Line = c.arena[start:len(c.arena):len(c.arena)]
}

// message is what filters test: the message field once there is a document.
func message(e *event.Event) []byte {
	if e.Doc == nil {
		return e.Line
	}
	switch m := e.Doc["message"].(type) {
	case string:
		return []byte(m)
	case nil:
		return nil
	default:
		return []byte(fmt.Sprint(m))
	}
}

// streams
const (
	streamNone = iota
	streamStdout
	streamStderr
)

var streamNames = [...]string{"", "stdout", "stderr"}
