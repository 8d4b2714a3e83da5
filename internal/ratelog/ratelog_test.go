package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := New(time.Hour)
	for range 5 {
		l.Log(log, slog.LevelWarn, "failed", "k", "v")
	}
	if n := strings.Count(buf.String(), "msg=failed"); n != 1 {
		t.Fatalf("%d lines, want 1:\n%s", n, buf.String())
	}
	if l.held.Load() != 4 {
		t.Fatalf("held %d, want 4", l.held.Load())
	}
	l.lim.SetLimit(1e9) // the interval passed
	l.Log(log, slog.LevelWarn, "failed")
	if !strings.Contains(buf.String(), "suppressed=4") {
		t.Fatalf("no count of what was held back:\n%s", buf.String())
	}
}
