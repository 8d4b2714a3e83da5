package kafka

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the package starts has ended when its tests have.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sarama's go-metrics meters share one ticker goroutine per process.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}
