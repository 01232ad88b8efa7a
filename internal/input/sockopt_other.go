//go:build !linux

package input

import (
	"errors"
	"fmt"
	"net"
)

// procStatsSupported tells whether the kernel's UDP counters can be read
// from /proc/net.
const procStatsSupported = false

// setReadBuffer asks for a receive buffer of size bytes. The size granted
// is not known on this system, so it returns the size asked for.
func setReadBuffer(c *net.UDPConn, size int) (int, error) {
	if err := c.SetReadBuffer(size); err != nil {
		return 0, fmt.Errorf("input: set read buffer: %w", err)
	}
	return size, nil
}

// socketInode is not supported on this system.
func socketInode(*net.UDPConn) (uint64, error) {
	return 0, errors.New("input: socket inode: not supported")
}
