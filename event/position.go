package event

import "github.com/logship/logship/fileid"

// PositionAfter is the position after an event.
func PositionAfter(e *Event) fileid.Position {
	if e.Flags&FlagCommit != 0 {
		return e.Commit
	}
	return fileid.PositionAfterLine(e.Line, e.End, e.Truncated)
}
