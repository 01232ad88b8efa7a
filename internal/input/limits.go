package input

import (
	"net"
	"net/netip"
	"sync"
)

// connLimit is one transport's connection budget: at most max open
// connections in all and at most perAddr from one IP address, so that one
// sender (or a few) cannot lock all the others out.
type connLimit struct {
	max, perAddr int

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int
}

func newConnLimit(max, perAddr int) *connLimit {
	return &connLimit{max: max, perAddr: perAddr, byAddr: make(map[netip.Addr]int)}
}

// acquire takes a slot for a connection from addr. It returns "" on
// success, else the reason of the refusal (a rejected-connections label).
func (l *connLimit) acquire(addr netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.max:
		return reasonLimit
	case l.byAddr[addr] >= l.perAddr:
		return reasonAddrLimit
	}
	l.open++
	l.byAddr[addr]++
	return ""
}

// release frees a slot taken by acquire.
func (l *connLimit) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

// remoteIP returns the IP address of a connection's peer (IPv4-mapped IPv6
// addresses as IPv4), or the zero Addr if it has none.
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
