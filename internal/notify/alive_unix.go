//go:build unix

package notify

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// alive reports whether a stream connection to a syslog receiver is still
// open, without blocking. A receiver never writes, so end of stream, an
// error or, over TLS, any data (a close_notify alert) means it is gone;
// a write would then vanish into a closed socket.
func alive(c net.Conn) bool {
	raw, isTLS := c, false
	if tc, ok := c.(*tls.Conn); ok {
		raw, isTLS = tc.NetConn(), true
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		// The socket is non-blocking: with nothing to read, EAGAIN.
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		case err != nil, n == 0:
			ok = false
		default:
			ok = !isTLS
		}
		return true
	})
	return ok && err == nil
}
