package format

import "unsafe"

// Arena copies bytes into large shared buffers and hands them out as
// strings, one allocation per buffer instead of one per value. The strings
// stay valid after Reset: a reset starts a new buffer, and the old one is
// collected once nothing refers to it. The zero value is ready to use.
type Arena struct {
	buf []byte
}

// Reset starts a new buffer sized for about size bytes, with a quarter
// more room so that a later ResetWith of a slightly larger size can still
// reuse it.
func (a *Arena) Reset(size int) {
	a.buf = make([]byte, 0, max(size+size/4, 64<<10))
}

// ResetWith starts over in buf when it can hold size bytes, else in a new
// buffer. buf must be a buffer an earlier Buffer returned whose strings
// are all out of use: they will be overwritten.
func (a *Arena) ResetWith(buf []byte, size int) {
	if cap(buf) < size {
		a.Reset(size)
		return
	}
	a.buf = buf[:0]
}

// Buffer returns the buffer the arena is filling: the one a later
// ResetWith may reuse once every string handed out since the last reset
// is out of use (strings that did not fit went to earlier buffers, which
// are left to the garbage collector).
func (a *Arena) Buffer() []byte { return a.buf }

// Alloc returns n bytes of the arena (their content is undefined) for the
// caller to fill and make strings of; they stay valid as Copy's strings
// do. It suits syslog.Parser.Alloc.
func (a *Arena) Alloc(n int) []byte {
	if n == 0 {
		return nil
	}
	if len(a.buf)+n > cap(a.buf) {
		a.buf = make([]byte, 0, max(2*cap(a.buf), n, 64<<10))
	}
	m := len(a.buf)
	a.buf = a.buf[:m+n]
	return a.buf[m : m+n : m+n]
}

// Copy copies b into the arena and returns it as a string. It suits
// Event.Copy.
func (a *Arena) Copy(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(a.buf)+len(b) > cap(a.buf) {
		a.buf = make([]byte, 0, max(2*cap(a.buf), len(b), 64<<10))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	s := a.buf[n:]
	return unsafe.String(&s[0], len(s))
}
