package prospector

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the package starts has ended when its tests have.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
