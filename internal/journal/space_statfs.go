//go:build linux || darwin || freebsd

package journal

import (
	"errors"
	"syscall"
)

// canStatfs says whether diskFree works on this system.
const canStatfs = true

// diskFree returns the bytes an unprivileged user may still write to dir's
// file system.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}

// isNoSpace reports whether err says the disk or the quota is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
