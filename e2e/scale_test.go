package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logship/logship/internal/testlines"
)

// Ten thousand one-line files appear while two files are written busily (a
// Kubernetes node with thousands of short container logs): discovery costs
// per new file, not per file known, so every line arrives once, the busy
// files are not starved, and memory stays within the per-file budget.
func TestManySmallFiles(t *testing.T) {
	const (
		small    = 10_000
		busy     = 2
		busyLine = 40_000
		// The performance budget: 48 MiB, and 96 MiB with 2,000 open
		// files, so 24 KiB for each file open at once.
		rssBound = 48<<20 + small*24<<10
	)
	plainBinary(t) // memory per file is what this measures
	r := newRig(t, `paths: ["%s/*.log"]`)
	r.start()
	var peak atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			peak.Store(max(peak.Load(), r.rss()))
		}
	})
	var writers sync.WaitGroup
	for f := range busy {
		writers.Go(func() {
			for i := 0; i < busyLine; i += 1000 {
				testlines.Append(t, r.path(fmt.Sprintf("f%d.log", f)), f, i, i+1000)
				time.Sleep(25 * time.Millisecond)
			}
		})
	}
	for f := busy; f < busy+small; f++ {
		testlines.Append(t, r.path(fmt.Sprintf("f%d.log", f)), f, 0, 1)
	}
	writers.Wait()
	want := busy*busyLine + small
	r.consume(want)
	r.drain()
	close(stop)
	watch.Wait()
	if r.seen.Distinct() != want || r.seen.Dups != 0 || r.seen.Bad != 0 {
		t.Fatalf("%d distinct of %d, %d duplicates, %d malformed", r.seen.Distinct(), want, r.seen.Dups, r.seen.Bad)
	}
	if p := peak.Load(); p == 0 || p > rssBound {
		t.Fatalf("peak RSS %d MiB, bound %d MiB", p>>20, rssBound>>20)
	}
	t.Logf("%d lines from %d files, peak RSS %.1f MiB", want, busy+small, float64(peak.Load())/(1<<20))
}
