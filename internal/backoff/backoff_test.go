package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {100, time.Second}} {
		if got := Delay(100*time.Millisecond, time.Second, c.n); got != c.want {
			t.Errorf("Delay(%d) = %s, want %s", c.n, got, c.want)
		}
	}
	if got := Delay(time.Hour, 10*time.Hour, 40); got != 10*time.Hour {
		t.Errorf("overflow: %s", got)
	}
}
