package processor

import (
	"errors"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

// multilineConfig is a compiled multiline setting.
type multilineConfig struct {
	typ      string
	pattern  *matcher
	negate   bool
	before   bool // match: before
	flush    *matcher
	count    int
	maxLines int
	maxBytes int
	timeout  time.Duration
}

func compileMultiline(m *config.Multiline) (*multilineConfig, error) {
	c := &multilineConfig{
		typ: m.Type, negate: m.Negate, before: m.Match == config.MatchBefore, count: m.CountLines,
		maxLines: m.MaxLines, maxBytes: int(m.MaxBytes), timeout: m.Timeout.D(),
	}
	var err error
	if m.Pattern != "" {
		if c.pattern, err = compileMatcher(m.Pattern); err != nil {
			return nil, err
		}
	}
	if m.FlushPattern != "" {
		if c.flush, err = compileMatcher(m.FlushPattern); err != nil {
			return nil, err
		}
	}
	if c.pattern == nil && c.typ != config.MultilineCount {
		return nil, errors.New("pattern is empty")
	}
	return c, nil
}

// multiline joins lines of one stream into events. The pending event is
// first (its first line's offsets and time) with the joined text in buf.
type multiline struct {
	cfg       *multilineConfig
	n         int // lines in the pending event; 0 when none
	first     unit
	buf       []byte
	truncated bool
	deadline  time.Time
}

func newMultiline(cfg *multilineConfig) *multiline { return &multiline{cfg: cfg} }

// matches applies the pattern and negate.
func (m *multiline) matches(line []byte) bool {
	return m.cfg.pattern.match(line) != m.cfg.negate
}

// line takes the next line of the stream.
func (m *multiline) line(c *Chain, u *unit) {
	cfg, now := m.cfg, u.read
	switch cfg.typ {
	case config.MultilineCount:
		m.add(u, now)
		if m.n >= cfg.count {
			m.flush(c)
		}
		return
	case config.MultilineWhilePattern:
		if m.matches(u.text) {
			m.add(u, now)
			return
		}
		m.flush(c)
		c.event(u)
		return
	}
	if cfg.before {
		// A matching line goes on into the next; the first that does not
		// ends the event.
		m.add(u, now)
		if !m.matches(u.text) || cfg.flush != nil && cfg.flush.match(u.text) {
			m.flush(c)
		}
		return
	}
	// match: after — a matching line belongs to the line before it.
	if m.n > 0 && !m.matches(u.text) {
		m.flush(c)
	}
	m.add(u, now)
	if cfg.flush != nil && cfg.flush.match(u.text) {
		m.flush(c)
	}
}

// add appends a line to the pending event, within max_lines and max_bytes.
func (m *multiline) add(u *unit, now time.Time) {
	if m.n == 0 {
		m.first = *u
		m.buf, m.truncated = append(m.buf[:0], u.text...), u.truncated
		m.n = 1
	} else {
		m.n++
		switch {
		case m.n > m.cfg.maxLines:
			m.truncated = true
		default:
			room := m.cfg.maxBytes - len(m.buf) - 1
			text := u.text
			if len(text) > room {
				text, m.truncated = text[:max(room, 0)], true
			}
			if room >= 0 {
				m.buf = append(m.buf, '\n')
				m.buf = append(m.buf, text...)
			}
		}
		m.truncated = m.truncated || u.truncated
		m.first.flags |= u.flags
		m.first.end, m.first.after = u.end, u.after
	}
	// The timeout counts from when the last line was read, not from a
	// runtime's timestamp, which is old while a backlog is read.
	m.deadline = now.Add(m.cfg.timeout)
}

// expired reports whether the pending event waited past the timeout.
func (m *multiline) expired(now time.Time) bool {
	return m.n > 0 && !now.Before(m.deadline)
}

// flush sends the pending event, if any.
func (m *multiline) flush(c *Chain) {
	if m.n == 0 {
		return
	}
	u := m.first
	u.text, u.truncated = m.buf, m.truncated
	if m.n > 1 {
		u.flags |= event.FlagMultiline
	}
	m.n = 0
	c.event(&u)
}
