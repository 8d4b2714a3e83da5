// Package eventually is the tests' one way of waiting for something that
// an event will make true: polling a condition up to a deadline, failing
// the test with what was awaited.
package eventually

import (
	"testing"
	"time"
)

// Within waits up to d for cond, polling every few milliseconds, and fails
// t with what was awaited if it does not hold by then.
func Within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
