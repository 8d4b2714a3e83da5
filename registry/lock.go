package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked is returned by Lock while another process holds the registry:
// a running agent, or an operator's registry command.
var ErrLocked = errors.New("registry is in use by another logship process")

// FileLock is an exclusive lock on a registry, held until Unlock or the
// process ends (the kernel releases it even after kill -9).
type FileLock struct{ f *os.File }

// Lock takes the registry at path for this process, through an flock on
// path + ".lock". Two agents must not share a registry, and a registry
// must not be edited under a running agent, which would overwrite it.
func Lock(path string) (*FileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("registry directory: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("registry lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s.lock", ErrLocked, path)
		}
		return nil, fmt.Errorf("registry lock: %w", err)
	}
	return &FileLock{f: f}, nil
}

// Unlock releases the lock.
func (l *FileLock) Unlock() error { return l.f.Close() }
