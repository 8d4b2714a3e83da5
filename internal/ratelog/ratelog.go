// Package ratelog logs messages that can repeat without bound (a failing
// broker, a file of over-long lines) at most at a rate, saying how many it
// held back.
package ratelog

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Logger lets one message through per interval. Safe for concurrent use.
type Logger struct {
	lim  *rate.Limiter
	held atomic.Int64
}

// New returns a Logger that logs at most once per every.
func New(every time.Duration) *Logger {
	return &Logger{lim: rate.NewLimiter(rate.Every(every), 1)}
}

// Log logs msg at level unless one went out less than the interval ago; a
// message that goes out carries "suppressed", how many were held back since
// the last.
func (l *Logger) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	if !l.lim.Allow() {
		l.held.Add(1)
		return
	}
	if n := l.held.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(context.Background(), level, msg, args...)
}
