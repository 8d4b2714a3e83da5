// Package harvester reads one file from an offset and turns its bytes into
// line events. The prospector starts one Harvester per open file and owns its
// goroutine; the harvester sends chunks of consecutive lines to the spooler
// and blocks when the spooler is full.
//
//	prospector ──opens file, starts──▶ Harvester.Run ──*event.Chunk──▶ spooler
//	       └── wake (fsnotify write) ──▶┘
//
// A harvester reads with one buffer for the file's lifetime and copies each
// line once, into its chunk. A line without its newline yet is held (up to
// max_bytes) until the newline arrives; the offset it reports as read is the
// end of the last complete line, so a restart re-reads a partial line whole.
package harvester
