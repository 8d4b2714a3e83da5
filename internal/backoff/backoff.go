// Package backoff is the one rule logship waits by between attempts: a
// first wait doubling per attempt up to a ceiling.
package backoff

import "time"

// Delay is the wait before attempt n (1 for the first retry): first,
// doubled for each attempt after, at most ceiling.
func Delay(first, ceiling time.Duration, n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := first << min(n-1, 30)
	if d <= 0 || d > ceiling { // overflowed, or past the ceiling
		return ceiling
	}
	return d
}
