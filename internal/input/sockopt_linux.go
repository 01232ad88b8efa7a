package input

import (
	"fmt"
	"net"
	"syscall"
)

// procStatsSupported tells whether the kernel's UDP counters can be read
// from /proc/net.
const procStatsSupported = true

// setReadBuffer asks for a receive buffer of size bytes, first with
// SO_RCVBUFFORCE (allowed with CAP_NET_ADMIN, not capped by
// net.core.rmem_max), then with SO_RCVBUF. It returns the size the kernel
// reports, which on Linux includes its bookkeeping overhead (twice the
// granted request).
func setReadBuffer(c *net.UDPConn, size int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("input: syscall conn: %w", err)
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) != nil {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size); serr != nil {
				serr = fmt.Errorf("input: setsockopt SO_RCVBUF: %w", serr)
				return
			}
		}
		got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		if serr != nil {
			serr = fmt.Errorf("input: getsockopt SO_RCVBUF: %w", serr)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("input: socket control: %w", err)
	}
	return got, serr
}

// socketInode returns the inode of c's socket, the key of its line in
// /proc/net/udp.
func socketInode(c *net.UDPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("input: syscall conn: %w", err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		return 0, fmt.Errorf("input: socket control: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("input: fstat socket: %w", serr)
	}
	return st.Ino, nil
}
