// Package processor shapes the raw lines a harvester reads into the events
// that are shipped. Each step is configured per input and costs nothing
// when it is not:
//
//	harvester ─raw lines─▶ container (CRI / docker json-file, partial lines joined)
//	                      ─▶ multiline ─▶ parsers (ndjson) ─▶ include/exclude_lines
//	                      ─▶ processors (add_fields, drop_fields, rename, drop_event,
//	                         dissect, timestamp, add_host_metadata) ─▶ chunk ─▶ spooler
//
// A Pipeline is built once per input; it makes one Chain per file, used by
// that file's harvester goroutine only. Lines that a step drops still move
// the file's committed offset on (as skip events), and an event waiting for
// more lines (multiline, a runtime's partial line) holds the offset back to
// its first line, so a restart neither loses nor repeats it.
package processor
