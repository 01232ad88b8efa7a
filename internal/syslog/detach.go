package syslog

import (
	"strings"
	"unsafe"
)

// While parsing, string fields are zero-copy views of the input made by
// view. detach then copies the part of the input they cover into one new
// buffer, resolves the SD param escapes inside that copy and points every
// field at the copy, so no string handed to the caller refers to the input
// and a message costs at most one allocation.

// view returns b[i:j] as a string that shares b's memory, and widens the
// range that detach will copy. The result must not escape Parse before
// detach has replaced it.
func (s *state) view(i, j int) string {
	if i >= j {
		return ""
	}
	if i < s.lo {
		s.lo = i
	}
	if j > s.hi {
		s.hi = j
	}
	return unsafe.String(&s.b[i], j-i)
}

// field is view for header fields, with the NILVALUE "-" mapped to "".
func (s *state) field(i, j int) string {
	if j-i == 1 && s.b[i] == '-' {
		return ""
	}
	return s.view(i, j)
}

// detach replaces every view into s.b held by s.m with the same bytes in a
// private copy. It must see each view exactly once.
func (s *state) detach() {
	if s.hi <= s.lo {
		return
	}
	m := s.m
	buf := s.p.alloc(s.hi - s.lo)
	copy(buf, s.b[s.lo:s.hi])
	r := rebaser{buf: buf, base: uintptr(unsafe.Pointer(&s.b[s.lo]))}
	m.Hostname = r.str(m.Hostname)
	m.AppName = r.str(m.AppName)
	m.ProcID = r.str(m.ProcID)
	m.MsgID = r.str(m.MsgID)
	for i := range m.StructuredData {
		e := &m.StructuredData[i]
		e.ID = r.str(e.ID)
		for k := range e.Params {
			p := &e.Params[k]
			p.Name = r.str(p.Name)
			p.Value = r.value(p.Value)
		}
	}
}

// rebaser maps views of the input onto the copy buf of the input's bytes
// starting at address base. Each region of buf is written at most once,
// before the string that covers it is made, and never after.
type rebaser struct {
	buf  []byte
	base uintptr
}

func (r *rebaser) offset(v string) int {
	return int(uintptr(unsafe.Pointer(unsafe.StringData(v))) - r.base)
}

func (r *rebaser) str(v string) string {
	if v == "" {
		return ""
	}
	off := r.offset(v)
	return unsafe.String(&r.buf[off], len(v))
}

// value is str for an SD param value, resolving its escapes in place.
func (r *rebaser) value(v string) string {
	if strings.IndexByte(v, '\\') < 0 {
		return r.str(v)
	}
	off := r.offset(v)
	n := unescape(r.buf[off : off+len(v)])
	if n == 0 {
		return ""
	}
	return unsafe.String(&r.buf[off], n)
}

// unescape resolves the RFC 5424 PARAM-VALUE escapes \" \\ and \] in p in
// place and returns the new length. A backslash before any other byte is
// kept, as RFC 5424 section 6.3.3 requires.
func unescape(p []byte) int {
	w := 0
	for r := 0; r < len(p); r++ {
		c := p[r]
		if c == '\\' && r+1 < len(p) {
			switch p[r+1] {
			case '"', '\\', ']':
				r++
				c = p[r]
			}
		}
		p[w] = c
		w++
	}
	return w
}
