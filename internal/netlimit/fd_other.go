//go:build !unix

package netlimit

import (
	"errors"
	"fmt"
	"runtime"
)

// fdLimit fails: only Unix systems say.
func fdLimit() (uint64, error) {
	return 0, fmt.Errorf("%w on %s", errors.ErrUnsupported, runtime.GOOS)
}

// temporary reports whether an accept error passes; none is known to here, so a failed
// accept is returned to the server.
func temporary(error) bool { return false }
