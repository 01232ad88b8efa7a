package testfs

import (
	"errors"
	"fmt"
	"syscall"
)

func mount(dir string, size int64) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
}

func unmount(dir string) error {
	err := syscall.Unmount(dir, 0)
	if errors.Is(err, syscall.EBUSY) {
		// A process started by the test still holds a file: detach now,
		// the kernel frees the file system when it lets go.
		err = syscall.Unmount(dir, syscall.MNT_DETACH)
	}
	return err
}

// Free returns the bytes an unprivileged user may still write to dir's
// file system.
func Free(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
