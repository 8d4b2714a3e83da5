// Package event defines the unit that flows through logship's pipeline:
// a line read by a harvester, carried by the spooler in a batch, encoded and
// shipped by an output, and acknowledged back to the registry.
//
//	prospector ─▶ harvester ─▶ [event.Chunk] ─▶ spooler ─▶ [spooler.Batch] ─▶ output
package event

import "time"

// Source describes the file an event was read from. One Source is shared by
// every event of one harvester run; all but its Fingerprint is immutable once
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
	Fingerprint Fingerprint
	// Input is the input configuration the file was found by.
	Input *Input
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

// Event is one line of a file.
type Event struct {
	Source *Source
	// Line is the line without its newline (and without a trailing '\r').
	// It points into the chunk's buffer and must not be modified.
	Line []byte
	// Offset is the byte offset of the line's first byte; End is the offset
	// just past its newline, where reading resumes once it is acknowledged.
	Offset, End int64
	// Time is when the line was read.
	Time time.Time
	// Truncated is set when the line was longer than max_bytes and only
	// its first max_bytes were kept.
	Truncated bool
}

// Chunk is a run of consecutive events of one file, sent downstream in one
// step so that channel operations are paid per read, not per line. Its events'
// lines point into one buffer owned by the chunk.
type Chunk struct {
	Events []Event
	// Bytes is the sum of the events' line lengths.
	Bytes int
}
