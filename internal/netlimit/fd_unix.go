//go:build unix

package netlimit

import (
	"errors"
	"syscall"
)

// fdLimit returns the soft RLIMIT_NOFILE of the process.
func fdLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return uint64(rl.Cur), nil
}

// temporary reports whether an accept error passes, so that accepting again later may
// succeed: out of file descriptors (the process's or the system's), of buffers or
// memory, or a connection that failed before it was accepted. Any other error means
// the listener is broken.
func temporary(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EPROTO, syscall.EPERM:
		return true
	}
	return false
}
