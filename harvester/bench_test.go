package harvester

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
)

// BenchmarkSplit is the harvester's hot path without line processing:
// splitting 64 KiB reads of ~200-byte lines into chunks. ns/op is per line.
func BenchmarkSplit(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 64<<10; i++ {
		s := fmt.Sprintf("2026-11-21T12:00:00.%03dZ INFO  [worker-%d] c.e.OrderService - order %d placed for customer %d, total 42.50 EUR, items 3", i%1000, i%8, i, i*7)
		sb.WriteString(s + strings.Repeat(" ", max(0, 199-len(s))) + "\n")
	}
	data := []byte(sb.String())
	lines := strings.Count(sb.String(), "\n")
	out := make(chan *event.Chunk, 64)
	done := make(chan struct{})
	go func() {
		for range out {
		}
		close(done)
	}()
	h := New(Config{}, &event.Source{ID: "x"}, nil, fileid.Position{}, out, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.SetBytes(int64(len(data) / lines))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n%lines == 0 {
			if err := h.split(b.Context(), data); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
	close(out)
	<-done
}
