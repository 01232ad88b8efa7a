//go:build !(linux || darwin || freebsd)

package journal

import (
	"errors"
	"syscall"
)

// canStatfs says whether diskFree works on this system.
const canStatfs = false

// diskFree is not implemented on this system.
func diskFree(string) (int64, error) { return 0, errors.ErrUnsupported }

// isNoSpace reports whether err says the disk is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC)
}
