//go:build !linux

package testfs

import "errors"

var errUnsupported = errors.New("tmpfs mounts are only implemented on Linux")

func mount(string, int64) error { return errUnsupported }

func unmount(string) error { return errUnsupported }

// Free is not implemented on this system.
func Free(string) (int64, error) { return 0, errUnsupported }
