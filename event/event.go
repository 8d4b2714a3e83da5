// Package event defines the unit that flows through logship's pipeline:
// a line read by a harvester, carried by the spooler in a batch, encoded and
// shipped by an output, and acknowledged back to the registry.
//
//	prospector ─▶ harvester ─▶ [event.Chunk] ─▶ spooler ─▶ [spooler.Batch] ─▶ output
package event

import (
	"sync/atomic"
	"time"

	"github.com/logship/logship/fileid"
)

// Source describes the file an event was read from. One Source is shared by
// every event of one harvester run; all but its Fingerprint and Marks is immutable once
// the harvester has started, so it may be read from any goroutine.
type Source struct {
	// ID is the file's identity (device and inode), the registry's key.
	ID string
	// Path is the path the file was opened under.
	Path string
	// Dev and Inode identify the file on its filesystem.
	Dev, Inode uint64
	// Fingerprint hashes the file's first bytes; it tells a reused inode
	// from the file that once had it. It grows while the file is shorter
	// than the fingerprint size, and changes after a truncation.
	Fingerprint fileid.Fingerprint
	// Marks are positions in the content read so far, to tell a copy of
	// it from a file that only starts the same way (see fileid.Marks).
	Marks fileid.Marks
	// Input is the input configuration the file was found by.
	Input *Input
	// Forgotten is set once the registry has forgotten the file (it was
	// removed): delivery results still in flight for this Source must not
	// bring its entry back.
	Forgotten atomic.Bool
	// Truncated is set for content that replaced the file's earlier
	// content while it was read (see Renewed).
	Truncated bool
	// Previous, with Truncated, is the earlier content and how far it was
	// read, so delivered once this Source's first position is: every
	// record of this Source's positions carries it (exactly_once's
	// offsets records too), so that a copy of the earlier content
	// (copytruncate) continues there after a crash.
	Previous *Previous

	delivered atomic.Pointer[fileid.Position] // see Delivered
	parts     atomic.Pointer[docParts]        // see MakeDoc
}

// Delivered is how far this content is known delivered: the registry's
// position for it when its harvester started (or the position it was
// entered at), then every position the acker committed for it. Zero before
// either. Never ahead of acknowledgement, so a copy of this content may be
// entered in the registry there (see prospector). Safe for concurrent use.
func (s *Source) Delivered() fileid.Position {
	if p := s.delivered.Load(); p != nil {
		return *p
	}
	return fileid.Position{}
}

// SetDelivered records pos as delivered (see Delivered). Only the registry
// calls it, as it commits or enters the Source.
func (s *Source) SetDelivered(pos fileid.Position) { s.delivered.Store(&pos) }

// Renewed returns a Source for the same file with new content (it was
// truncated after s was read to readTo): events read before keep the old
// one, and with it the fingerprint their offsets belong to.
func (s *Source) Renewed(readTo fileid.Position) *Source {
	return &Source{ID: s.ID, Path: s.Path, Dev: s.Dev, Inode: s.Inode, Input: s.Input, Truncated: true,
		Previous: &Previous{Fingerprint: s.Fingerprint.Load(), Pos: readTo}}
}

// Previous is a file's content before a truncation, and how far it was read.
type Previous struct {
	Fingerprint fileid.FingerprintValue
	Pos         fileid.Position
}

// Input is what every event of one configured input shares.
type Input struct {
	// Type is the input type ("log").
	Type string
	// Index is the input's position in the configuration.
	Index int
	// Fields are the configured extra fields, and FieldsJSON the same
	// encoded as a JSON object (nil when none are configured).
	Fields     map[string]any
	FieldsJSON []byte
	// FieldsUnderRoot puts the fields at the top level of the event
	// rather than under "fields".
	FieldsUnderRoot bool
}

// Event is one line of a file, or several joined (multiline, a container
// runtime's partial lines), possibly shaped by parsers and processors.
type Event struct {
	Source *Source
	// Line is the message: the line without its newline (and without a
	// trailing '\r'), decoded to UTF-8. It points into the chunk's buffer
	// and must not be modified.
	Line []byte
	// Offset is the byte offset of the event's first byte; End is the
	// offset just past its last newline.
	Offset, End int64
	// Time is the event's @timestamp: when it was read, or the time a
	// container runtime or a timestamp processor gave it.
	Time time.Time
	// Truncated is set when the line was longer than max_bytes and only
	// its first max_bytes were kept.
	Truncated bool
	// Flags are the event's other log.flags.
	Flags Flag
	// Skip marks an event without content: lines that were read and
	// dropped (filters, drop_event). It is not shipped; it only carries
	// the file position past them to the registry.
	Skip bool
	// DocSize estimates the memory Doc holds (see Size).
	DocSize int32
	// Meta holds fields shared by many events (a container's stream and
	// its kubernetes metadata); nil when none. Shared: never modified.
	Meta *Meta
	// Extra is fields add_fields added without making a document (see
	// Extra); nil otherwise, and always once Doc is set.
	Extra *Extra
	// Doc is the whole event as fields, once a parser or processor has
	// made one; nil otherwise. When set it replaces every field above but
	// Line (kept for codec raw when Doc has no message) and the offsets.
	Doc map[string]any
	// Commit is where reading resumes once this event is delivered, when
	// that is not simply after Line (see PositionAfter): processed events
	// hold the position after their last raw line, or before a pending
	// event that started earlier.
	Commit fileid.Position
}

// Flag is a set of log.flags.
type Flag uint8

// Flags an event may carry.
const (
	FlagMultiline   Flag = 1 << iota // several lines joined
	FlagInvalidUTF8                  // bytes that were not UTF-8 replaced by U+FFFD
	FlagPartial                      // a runtime's line whose end never came
	FlagUnparsed                     // not in the expected format; kept as read
	FlagCommit                       // Commit is set
)

// FlagNames appends the event's log.flags, truncated first.
func (e *Event) FlagNames(dst []string) []string {
	if e.Truncated {
		dst = append(dst, "truncated")
	}
	if e.Flags&FlagMultiline != 0 {
		dst = append(dst, "multiline")
	}
	if e.Flags&FlagInvalidUTF8 != 0 {
		dst = append(dst, "invalid_utf8")
	}
	if e.Flags&FlagPartial != 0 {
		dst = append(dst, "partial")
	}
	if e.Flags&FlagUnparsed != 0 {
		dst = append(dst, "unparsed")
	}
	return dst
}

// Meta is a set of fields shared by events: Fields as a map (for
// conditions, formats and processors) and JSON, the same encoded as the
// members of a JSON object without its braces.
type Meta struct {
	Fields map[string]any
	JSON   []byte
}

// Chunk is a run of consecutive events of one file, sent downstream in one
// step so that channel operations are paid per read, not per line. Its events'
// lines point into one buffer owned by the chunk.
type Chunk struct {
	Events []Event
	// Bytes is the sum of the events' line lengths.
	Bytes int
}

// Raw is one line as read from a file, handed to line processing.
type Raw struct {
	// Text is the line decoded to UTF-8, without its newline.
	Text []byte
	// Offset is where the line starts; End is just past its newline.
	Offset, End int64
	// Before is the position before the line, After the one after it.
	Before, After fileid.Position
	Truncated     bool
	Flags         Flag
	// Time is when the line was read.
	Time time.Time
}

// Size is what the event counts against the queue's max_bytes: its line,
// and an estimate of its document's memory.
func (e *Event) Size() int { return len(e.Line) + int(e.DocSize) }

// Shipped is the number of the chunk's events that are not Skip.
func (c *Chunk) Shipped() int {
	n := len(c.Events)
	for i := range c.Events {
		if c.Events[i].Skip {
			n--
		}
	}
	return n
}
