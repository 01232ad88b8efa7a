// Package iis parses the logs of an Exchange front end's web server: IIS
// W3C extended access logs (format "iis") and Exchange HttpProxy logs
// (format "exchange-httpproxy"), both written by the servers that take the
// OWA, ECP, EWS, ActiveSync, Autodiscover, MAPI and RPC requests.
//
// IIS lines follow their stream's "#Fields:" header, which may change in the
// middle of a file; a line without a header that fits is read by its shape
// (see guess). HttpProxy lines are CSV in the column order Microsoft
// documents, or in the order of their own "#Fields:" header.
package iis

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Format names.
const (
	NameIIS       = "iis"
	NameHTTPProxy = "exchange-httpproxy"
)

// Text returns the IIS W3C extended access log format, named "iis".
func Text() format.Text { return w3c{} }

// w3c is the IIS W3C extended log format.
type w3c struct{}

// Name implements format.Text.
func (w3c) Name() string { return NameIIS }

// Detect implements format.Text. It takes IIS directives ("#Fields:" with
// space-separated names, "#Software: Microsoft Internet Information
// Services", "#Version: 1.0", "#Date: YYYY-MM-DD HH:MM:SS") and lines
// starting "YYYY-MM-DD HH:MM:SS " that either follow a "#Fields:" header of
// the same source or have an HTTP method followed by a path among their
// next four tokens (so that other logs starting with such a timestamp are
// left alone).
func (w3c) Detect(msg []byte, src *format.Source) bool {
	b := line(msg)
	if len(b) > 0 && b[0] == '#' {
		switch {
		case hasPrefix(b, "#Fields:"):
			return bytes.IndexByte(b, ',') < 0
		case hasPrefix(b, "#Software: Microsoft Internet Information Services"):
			return true
		case string(b) == "#Version: 1.0":
			return true
		case hasPrefix(b, "#Date: "):
			d := bytes.TrimSpace(b[len("#Date: "):])
			return len(d) == 19 && isDate(d[:10]) && d[10] == ' ' && isClock(d[11:])
		}
		return false
	}
	if len(b) < 21 || !isDate(b[:10]) || b[10] != ' ' || !isClock(b[11:19]) || b[19] != ' ' {
		return false
	}
	if src != nil {
		if st, _ := src.State(NameIIS).(*w3cState); st != nil && st.layout != nil {
			return true
		}
	}
	rest := b[20:]
	for i := 0; i < 4 && len(rest) > 0; i++ {
		tok, after, _ := bytes.Cut(rest, []byte{' '})
		if isMethod(tok) && len(after) > 0 && (after[0] == '/' || after[0] == '*') {
			return true
		}
		rest = after
	}
	return false
}

// maxTokens is the stack room for a line's tokens; longer lines spill to
// the heap.
const maxTokens = 32

// w3cState is what the format keeps per source.
type w3cState struct {
	layout  *layout // from the last #Fields header; nil before one
	scratch []byte  // reused for values built from pieces
}

// w3cStateOf returns src's state, creating it.
func w3cStateOf(src *format.Source) *w3cState {
	st, _ := src.State(NameIIS).(*w3cState)
	if st == nil {
		st = &w3cState{}
		src.SetState(NameIIS, st)
	}
	return st
}

// Parse implements format.Text.
func (w3c) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	st := w3cStateOf(src)
	b := line(msg)
	if len(b) == 0 {
		return errors.New("empty line")
	}
	if b[0] == '#' {
		if hasPrefix(b, "#Fields:") {
			l, err := parseHeader(b[len("#Fields:"):])
			if err != nil {
				return err
			}
			st.layout = l
		}
		return format.ErrSkip
	}
	var tokArr [maxTokens][]byte
	tok := splitSpace(tokArr[:0], b)
	var fields []field
	l := st.layout
	if l != nil && l.fits(tok) {
		fields = l.fields
	} else {
		var arr [maxTokens]field
		var ok bool
		if fields, ok = guess(tok, arr[:0]); !ok {
			if l != nil {
				return fmt.Errorf("line has %d fields, its #Fields header %d, and no known IIS layout fits", len(tok), len(l.fields))
			}
			return fmt.Errorf("no #Fields header seen and no known IIS layout fits the line's %d fields", len(tok))
		}
	}
	var v [nFields][]byte
	for i, f := range fields {
		if f != fOther {
			v[f] = tok[i]
		}
	}
	return addW3C(&v, src, ev, &st.scratch)
}

// splitSpace appends the space-separated tokens of b to dst.
func splitSpace(dst [][]byte, b []byte) [][]byte {
	for len(b) > 0 {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		if len(b) == 0 {
			break
		}
		i := 0
		for i < len(b) && b[i] != ' ' && b[i] != '\t' {
			i++
		}
		dst = append(dst, b[:i])
		b = b[i:]
	}
	return dst
}

// addW3C adds the normalized fields of one IIS line, given by field; buf
// is scratch.
func addW3C(v *[nFields][]byte, src *format.Source, ev *format.Event, buf *[]byte) error {
	if date, clock := v[fDate], v[fTime]; date != nil && clock != nil {
		// IIS writes W3C times in UTC whatever the server's time zone.
		if !isDate(date) || !isClock(clock) {
			return fmt.Errorf("invalid date and time %q %q", date, clock)
		}
		t, ok := civil(date, clock, time.UTC)
		if !ok {
			return fmt.Errorf("invalid date and time %q %q", date, clock)
		}
		ev.Time = t
	}
	status := 0
	if s := v[fStatus]; !dash(s) {
		n, ok := atoi(s)
		if !ok || n > 999 {
			return fmt.Errorf("sc-status %q is not an HTTP status", s)
		}
		status = int(n)
	}
	from := len(ev.Fields)
	ev.Add(format.FieldDataset, "iis.access")
	ev.AddBytes(format.FieldHostName, v[fComputerName])
	ev.AddBytes(fieldSiteName, v[fSiteName])
	addClient(ev, v[fClientIP], v[fClientPort], v[fForwardedFor], buf)
	addIP(ev, format.FieldDestIP, fieldDestAddr, v[fServerIP], buf)
	if p := v[fServerPort]; digits(p, 5) {
		ev.AddBytes(format.FieldDestPort, p)
	}

	user := v[fUser]
	if dash(user) || bytes.EqualFold(user, []byte("Anonymous")) {
		user = nil
	}
	format.AddHTTP(ev, src, format.HTTP{
		Method:    cp(ev, dashNil(v[fMethod])),
		Path:      cp(ev, dashNil(v[fStem])),
		Query:     cp(ev, dashNil(v[fQuery])),
		Status:    status,
		User:      cp(ev, user),
		UserAgent: unplus(ev, v[fUserAgent], buf),
	})
	iisAuth(ev, from, status, v[fSubStatus], v[fWin32Status])
	validUTF8(ev, from)

	ev.AddBytes(format.FieldReferrer, v[fReferer])
	ev.AddBytes(fieldURLDomain, cleanAddr(v[fHost]))
	if ver := v[fVersion]; hasPrefix(ver, "HTTP/") {
		ev.AddBytes(fieldHTTPVersion, ver[len("HTTP/"):])
	}
	addNumber(ev, fieldSubStatus, v[fSubStatus])
	addNumber(ev, fieldWin32Status, v[fWin32Status])
	addNumber(ev, format.FieldBytes, v[fSentBytes])
	addNumber(ev, fieldRequestBytes, v[fRecvBytes])
	addDuration(ev, v[fTimeTaken], buf)
	return nil
}

// dashNil returns nil for a W3C empty value "-".
func dashNil(b []byte) []byte {
	if dash(b) {
		return nil
	}
	return b
}

// unplus returns a copy of b with IIS's '+' for space undone (IIS writes
// the spaces of cs(User-Agent) and of custom header fields as '+'), using
// buf as scratch.
func unplus(ev *format.Event, b []byte, buf *[]byte) string {
	if dash(b) {
		return ""
	}
	if bytes.IndexByte(b, '+') < 0 {
		return cp(ev, b)
	}
	s := (*buf)[:0]
	for _, c := range b {
		if c == '+' {
			c = ' '
		}
		s = append(s, c)
	}
	*buf = s
	return cp(ev, s)
}
