// How a harvester reads (Config) and the line processing it hands lines to
// (Processor).

package harvester

import (
	"time"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// Config says how a harvester reads.
type Config struct {
	// MaxBytes is the longest line kept; longer lines are truncated to it,
	// flagged and counted.
	MaxBytes int
	// CloseInactive closes the file when nothing was read for this long.
	CloseInactive time.Duration
	// CloseEOF closes the file as soon as its end is reached.
	CloseEOF bool
	// CloseRenamed closes the file at its end once its path no longer
	// leads to it.
	CloseRenamed bool
	// CloseRemoved closes the file at its end once it has been deleted.
	CloseRemoved bool
	// CloseRemovedAfter gives up on a deleted file that could not be sent
	// downstream for this long (the output is stuck), so that it stops
	// holding disk space; its unread bytes are counted and logged. Zero
	// means never.
	CloseRemovedAfter time.Duration
	// Gzip reads the file through gzip; it is read once, to its end.
	Gzip bool
	// Backoff is the first wait at end of file; it doubles up to MaxBackoff
	// while the file does not grow. A wake signal ends a wait early.
	Backoff, MaxBackoff time.Duration
	// ReadBufferSize is the size of the file's read buffer.
	ReadBufferSize int
	// ChunkBytes and ChunkEvents bound a chunk sent downstream.
	ChunkBytes, ChunkEvents int
	// OnTruncate, if set, is called when the file is found truncated, with
	// the Source of the content it had (its fingerprint, marks and
	// delivered position) and the position every line before which has been
	// handed downstream: a copy of that content (copytruncate) can then be
	// read from there.
	OnTruncate func(src *event.Source, pos fileid.Position)
	// CommitStart makes the first event sent a skip event at the start
	// position, so that the file is committed there in order behind every
	// line handed downstream before it. The prospector asks for it when a
	// file starts ahead of where the registry has it (a copy continuing
	// content read, not yet delivered, under another inode).
	CommitStart bool
	// Encoding decodes the file's lines to UTF-8.
	Encoding Encoding
	// KeepBytes ships a UTF-8 file's lines as they are written, invalid
	// UTF-8 included, rather than repaired and flagged (codec raw).
	KeepBytes bool
	// Watched says a wake signal comes for every write to the file
	// (fsnotify) and the prospector's scans wake it when the file's size
	// changed or it is gone: at its end the harvester then waits for one,
	// without polling, up to CloseInactive (or a processor's deadline).
	// Otherwise it polls, every Backoff doubling up to MaxBackoff.
	Watched bool
	// Gate, if set, is shared by the harvesters whose reads it bounds.
	Gate *Gate
	// Pipeline, if set, makes the processor that shapes this file's lines
	// into events (multiline, container formats, parsers, filters,
	// processors). Without one, each line is an event as it is.
	Pipeline func(*event.Source) Processor
}

// Processor shapes the raw lines of one file into events. It is used by its
// harvester's goroutine only.
type Processor interface {
	// Line takes the next raw line. Line.Text is valid during the call.
	Line(l *event.Raw)
	// Expire completes pending events that waited past their timeout at
	// now; Flush completes every pending event (the file will not grow, or
	// was truncated).
	Expire(now time.Time)
	Flush()
	// Deadline is when Expire next has work; zero when nothing pends.
	Deadline() time.Time
	// Pending is the position before the oldest line not yet in an event
	// returned by Events, if there is one: reading resumes there.
	Pending() (fileid.Position, bool)
	// Events returns the events completed since the last call, in file
	// order. They and the memory their Lines point to are valid until the
	// next call of any method.
	Events() []event.Event
}

// Defaults fills zero fields with their defaults.
func (c *Config) Defaults() {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.CloseInactive <= 0 {
		c.CloseInactive = 5 * time.Minute
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(time.Second, c.Backoff)
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 64 << 10
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 64 << 10
	}
	if c.ChunkEvents <= 0 {
		c.ChunkEvents = 512
	}
}
