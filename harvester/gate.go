package harvester

import "context"

// Gate bounds how many harvesters read at once. A harvester enters it
// before a read and leaves once the chunk that read filled is handed over,
// so the read buffers and unsent chunks of all files together are a few,
// however many files are open or behind: the others wait holding neither.
// Waiting harvesters enter in turn, a read each, so every file behind
// progresses. A nil Gate admits everyone.
type Gate struct{ c chan struct{} }

// NewGate returns a gate admitting n harvesters at once.
func NewGate(n int) *Gate { return &Gate{c: make(chan struct{}, max(1, n))} }

func (g *Gate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g.c <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Gate) leave() {
	if g != nil {
		<-g.c
	}
}
