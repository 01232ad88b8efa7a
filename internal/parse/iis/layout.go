package iis

import (
	"bytes"
	"fmt"
)

// field is a W3C field this package understands.
type field uint8

const (
	fOther field = iota // a field this package does not map
	fDate
	fTime
	fSiteName     // s-sitename
	fComputerName // s-computername
	fServerIP     // s-ip
	fMethod       // cs-method
	fStem         // cs-uri-stem
	fQuery        // cs-uri-query
	fServerPort   // s-port
	fUser         // cs-username
	fClientIP     // c-ip
	fVersion      // cs-version
	fUserAgent    // cs(User-Agent)
	fCookie       // cs(Cookie)
	fReferer      // cs(Referer)
	fHost         // cs-host
	fStatus       // sc-status
	fSubStatus    // sc-substatus
	fWin32Status  // sc-win32-status
	fSentBytes    // sc-bytes
	fRecvBytes    // cs-bytes
	fTimeTaken    // time-taken
	fForwardedFor // X-Forwarded-For custom field
	fClientPort   // c-port, or the REMOTE_PORT custom field
	nFields
)

// w3cNames maps a #Fields name (lowercase) to its field.
var w3cNames = map[string]field{
	"date":                fDate,
	"time":                fTime,
	"s-sitename":          fSiteName,
	"s-computername":      fComputerName,
	"s-ip":                fServerIP,
	"cs-method":           fMethod,
	"cs-uri-stem":         fStem,
	"cs-uri-query":        fQuery,
	"s-port":              fServerPort,
	"cs-username":         fUser,
	"c-ip":                fClientIP,
	"cs-version":          fVersion,
	"cs(user-agent)":      fUserAgent,
	"cs(cookie)":          fCookie,
	"cs(referer)":         fReferer,
	"cs-host":             fHost,
	"sc-status":           fStatus,
	"sc-substatus":        fSubStatus,
	"sc-win32-status":     fWin32Status,
	"sc-bytes":            fSentBytes,
	"cs-bytes":            fRecvBytes,
	"time-taken":          fTimeTaken,
	"x-forwarded-for":     fForwardedFor,
	"cs(x-forwarded-for)": fForwardedFor,
	"x_forwarded_for":     fForwardedFor,
	"cs(x_forwarded_for)": fForwardedFor,
	"c-port":              fClientPort,
	"remote_port":         fClientPort,
	"remote-port":         fClientPort,
	"cs(remote_port)":     fClientPort,
	"originalip":          fForwardedFor,
	"x-real-ip":           fForwardedFor,
	"cs(x-real-ip)":       fForwardedFor,
}

// maxHeaderFields bounds a #Fields header (IIS has 21 standard fields;
// custom fields come on top).
const maxHeaderFields = 128

// layout is the field order of one stream, from its #Fields header.
type layout struct {
	fields []field
}

// parseHeader parses the names after "#Fields:".
func parseHeader(names []byte) (*layout, error) {
	l := &layout{}
	for _, name := range bytes.Fields(names) {
		if len(l.fields) == maxHeaderFields {
			return nil, fmt.Errorf("#Fields header has more than %d fields", maxHeaderFields)
		}
		var low [32]byte
		f := fOther
		if len(name) <= len(low) {
			for i, c := range name {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				low[i] = c
			}
			f = w3cNames[transient(low[:len(name)])]
		}
		l.fields = append(l.fields, f)
	}
	if len(l.fields) == 0 {
		return nil, fmt.Errorf("#Fields header names no fields")
	}
	return l, nil
}

// fits reports whether tok has the shape the layout says: the count, and
// a date, time, numbers where numbers belong. A header left from another
// file (or a line the header does not describe) fails.
func (l *layout) fits(tok [][]byte) bool {
	if len(tok) != len(l.fields) {
		return false
	}
	for i, f := range l.fields {
		t := tok[i]
		switch f {
		case fDate:
			if !isDate(t) {
				return false
			}
		case fTime:
			if !isClock(t) {
				return false
			}
		case fStatus:
			if !dash(t) && !digits(t, 3) {
				return false
			}
		case fServerPort, fClientPort:
			if !dash(t) && !digits(t, 5) {
				return false
			}
		case fSubStatus, fWin32Status, fSentBytes, fRecvBytes, fTimeTaken:
			if !dash(t) && !digits(t, 20) {
				return false
			}
		case fMethod:
			if !dash(t) && !isMethod(t) {
				return false
			}
		}
	}
	return true
}

// isMethod reports whether b looks like an HTTP method: GET, POST, and
// Exchange's RPC over HTTP verbs RPC_IN_DATA and RPC_OUT_DATA.
func isMethod(b []byte) bool {
	if len(b) < 3 || len(b) > 24 {
		return false
	}
	for _, c := range b {
		if (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isSiteName reports whether b is an IIS site's service name, W3SVC<n>.
func isSiteName(b []byte) bool {
	return len(b) > 5 && string(b[:5]) == "W3SVC" && digits(b[5:], 10)
}

// isStatus reports whether b is an HTTP status code.
func isStatus(b []byte) bool { return len(b) == 3 && b[0] >= '1' && b[0] <= '5' && digits(b, 3) }

// isHostName reports whether b (Markdown link form allowed) is a bare host
// name, with or without port: what cs-host holds. A referrer is a URL
// with a scheme and path; a cookie has '='.
func isHostName(b []byte) bool {
	b = cleanAddr(b)
	if dash(b) {
		return false
	}
	dot := false
	for _, c := range b {
		switch {
		case c == '.':
			dot = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == ':', c == '_':
		default:
			return false
		}
	}
	return dot
}

// isURL reports whether b looks like a referrer URL.
func isURL(b []byte) bool { return bytes.Contains(b, []byte("://")) || len(b) > 0 && b[0] == '/' }

// guess finds the layout of a line without a (fitting) #Fields header from
// the shape of its tokens and appends it to dst. IIS writes the fields it
// logs in one fixed order, so a line is
//
//	date time [s-sitename] [s-computername] [s-ip] cs-method cs-uri-stem
//	cs-uri-query s-port cs-username c-ip [cs-version] [cs(User-Agent)]
//	[cs(Cookie)] [cs(Referer)] [cs-host] sc-status sc-substatus
//	sc-win32-status [sc-bytes] [cs-bytes] [time-taken]
//	[X-Forwarded-For [client port]]
//
// The method anchors the start (what precedes it is an address = s-ip, a
// W3SVC<n> = s-sitename, else s-computername); the status triple (a 3-digit
// status and two numbers) anchors the end. Between the user agent and the
// status, one value is the referrer (a cs-host if it is a bare host name),
// two are cookie-or-referrer and cs-host when the second is a host name,
// else cookie and referrer, three are cookie, referrer and cs-host. After
// the status triple: one number is time-taken; two are sc-bytes and
// time-taken; three are sc-bytes, cs-bytes, time-taken; then an address
// (list) or "-" is X-Forwarded-For and a number after it the client port.
// This covers the default Exchange/IIS order
//
//	date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username
//	c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status
//	time-taken
//
// and every layout in the published samples.
func guess(tok [][]byte, dst []field) ([]field, bool) {
	if len(tok) < 11 || !isDate(tok[0]) || !isClock(tok[1]) {
		return dst, false
	}
	for m := 2; m <= 5 && m+5 < len(tok); m++ {
		if !isMethod(tok[m]) {
			continue
		}
		if l, ok := guessAt(tok, m, dst); ok {
			return l, true
		}
	}
	return dst, false
}

// guessAt is guess with the method at tok[m].
func guessAt(tok [][]byte, m int, dst []field) ([]field, bool) {
	n := len(tok)
	dst = append(dst, fDate, fTime)
	switch pre := tok[2:m]; len(pre) {
	case 1:
		switch {
		case isAddr(pre[0]) || dash(pre[0]):
			dst = append(dst, fServerIP)
		case isSiteName(pre[0]):
			dst = append(dst, fSiteName)
		default:
			dst = append(dst, fComputerName)
		}
	case 2:
		first := fComputerName
		if isSiteName(pre[0]) {
			first = fSiteName
		}
		if isAddr(pre[1]) || dash(pre[1]) {
			dst = append(dst, first, fServerIP)
		} else {
			dst = append(dst, fSiteName, fComputerName)
		}
	case 3:
		dst = append(dst, fSiteName, fComputerName, fServerIP)
	}
	if !dash(tok[m+3]) && !digits(tok[m+3], 5) || !dash(tok[m+5]) && !isAddr(tok[m+5]) {
		return dst, false
	}
	dst = append(dst, fMethod, fStem, fQuery, fServerPort, fUser, fClientIP)
	p := m + 6
	if p < n && hasPrefix(tok[p], "HTTP/") {
		dst = append(dst, fVersion)
		p++
	}
	s := -1
	for i := p; i <= p+4 && i+2 < n; i++ {
		if isStatus(tok[i]) && digits(tok[i+1], 10) && digits(tok[i+2], 10) {
			s = i
			break
		}
	}
	if s < 0 {
		return dst, false
	}
	if s > p {
		dst = append(dst, fUserAgent)
		switch mid := tok[p+1 : s]; len(mid) {
		case 0:
		case 1:
			if isHostName(mid[0]) {
				dst = append(dst, fHost)
			} else {
				dst = append(dst, fReferer)
			}
		case 2:
			switch {
			case isHostName(mid[1]) && isURL(mid[0]):
				dst = append(dst, fReferer, fHost)
			case isHostName(mid[1]):
				dst = append(dst, fCookie, fHost)
			default:
				dst = append(dst, fCookie, fReferer)
			}
		case 3:
			dst = append(dst, fCookie, fReferer, fHost)
		}
	}
	dst = append(dst, fStatus, fSubStatus, fWin32Status)
	tail := tok[s+3:]
	c := 0
	for c < len(tail) && c < 3 && digits(tail[c], 20) {
		c++
	}
	switch c {
	case 1:
		dst = append(dst, fTimeTaken)
	case 2:
		dst = append(dst, fSentBytes, fTimeTaken)
	case 3:
		dst = append(dst, fSentBytes, fRecvBytes, fTimeTaken)
	}
	tail = tail[c:]
	if len(tail) > 0 {
		if !dash(tail[0]) && !isAddrList(tail[0]) {
			return dst, false
		}
		dst = append(dst, fForwardedFor)
		tail = tail[1:]
	}
	if len(tail) > 0 {
		if !digits(tail[0], 5) {
			return dst, false
		}
		dst = append(dst, fClientPort)
		tail = tail[1:]
	}
	return dst, len(tail) == 0
}

// isAddrList reports whether b starts like an X-Forwarded-For value: an
// address, possibly followed by more after a comma.
func isAddrList(b []byte) bool {
	if k := bytes.IndexByte(b, ','); k >= 0 {
		b = b[:k]
	}
	return isAddr(b) || isAddr(stripPort(b))
}
