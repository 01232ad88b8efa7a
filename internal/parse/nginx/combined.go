package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Combined returns the format "nginx-combined": nginx's predefined
// `combined` access log format, and `common` (without referrer and user
// agent):
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// followed by any fields a deployment appends. Of those, the first quoted
// one is taken as $http_x_forwarded_for when it holds addresses or "-"
// (nginx's `main` format), and the first bare number with a fraction, or an
// rt=/request_time= pair, as $request_time. Quoted strings may escape with
// nginx's \xHH or with \" and \\; a request line that is not
// "METHOD target HTTP/x.y" (e.g. TLS bytes sent to a plain-text port) is
// kept as it is and gives no method or path.
func Combined() format.Text { return combined{} }

type combined struct{}

// Name implements format.Text.
func (combined) Name() string { return "nginx-combined" }

// Detect implements format.Text: an address, two words, a
// [02/Jan/2006:15:04:05 -0700] time and a quote.
func (combined) Detect(msg []byte, _ *format.Source) bool {
	sp := bytes.IndexByte(msg, ' ')
	if sp < 2 || !addrLike(msg[:sp]) {
		return false
	}
	rest := msg[sp+1:]
	if sp = bytes.IndexByte(rest, ' '); sp <= 0 {
		return false
	}
	rest = rest[sp+1:]
	open := findTime(rest)
	if open < 0 {
		return false
	}
	rest = rest[open+clfLen+2:]
	return len(rest) >= 2 && rest[0] == ' ' && rest[1] == '"'
}

// Parse implements format.Text.
func (combined) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	var a access
	c := copier{ev: ev}
	sp := bytes.IndexByte(msg, ' ')
	if sp <= 0 {
		return errors.New("no client address at the start")
	}
	a.peer = c.str(msg[:sp])
	rest := msg[sp+1:]
	if sp = bytes.IndexByte(rest, ' '); sp < 0 {
		return errors.New("no remote user after the client address")
	}
	rest = rest[sp+1:]
	open := findTime(rest)
	if open < 0 {
		return errors.New("no [02/Jan/2006:15:04:05 -0700] time after the remote user")
	}
	if open > 0 {
		a.user, a.userLogged = c.unquoted(rest[:open-1]), true
	}
	a.timeKey, a.timeVal = "time", c.str(rest[open+1:open+1+clfLen])
	rest = bytes.TrimLeft(rest[open+clfLen+2:], " ")
	if len(rest) == 0 || rest[0] != '"' {
		return errors.New("no quoted request line after the time")
	}
	req, rest, _ := quoted(rest)
	a.request = c.unquoted(req)

	// $status $body_bytes_sent: numbers or "-"; a line cut short ends
	// anywhere.
	var tok []byte
	if tok, rest = bare(rest); len(tok) > 0 {
		a.status = c.str(tok)
		if a.status != "-" && status(a.status) == 0 {
			return fmt.Errorf("status %q after the request line is not an HTTP status", a.status)
		}
	}
	if tok, rest = bare(rest); len(tok) > 0 {
		a.bodyBytes = c.str(tok)
		if a.bodyBytes != "-" && !isUint(a.bodyBytes) {
			return fmt.Errorf("response size %q after the status is not a number", a.bodyBytes)
		}
	}
	// "$http_referer" "$http_user_agent" (combined only).
	if rest = bytes.TrimLeft(rest, " "); len(rest) > 0 && rest[0] == '"' {
		var v []byte
		v, rest, _ = quoted(rest)
		a.referrer = c.unquoted(v)
		if rest = bytes.TrimLeft(rest, " "); len(rest) > 0 && rest[0] == '"' {
			v, rest, _ = quoted(rest)
			a.userAgent = c.unquoted(v)
		}
	}
	a.trailer(rest, &c)
	return a.emit(ev, src)
}

// trailer reads the fields a deployment appended to combined.
func (a *access) trailer(rest []byte, c *copier) {
	xffSeen := false
	for {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			return
		}
		var v []byte
		if rest[0] == '"' {
			v, rest, _ = quoted(rest)
			if !xffSeen {
				xffSeen = true
				if s := c.str(v); s == "-" || addrList(s) {
					a.xff = s
				}
			}
			continue
		}
		v, rest = bare(rest)
		if a.reqTime != "" {
			continue
		}
		if k, val, ok := bytes.Cut(v, []byte{'='}); ok {
			if string(k) == "rt" || string(k) == "request_time" {
				v = val
			} else {
				continue
			}
		}
		if seconds(v) {
			a.reqTime = c.str(v)
		}
	}
}

// copier copies values from a message into strings that live as long as the
// event, decoding escapes.
type copier struct {
	ev *format.Event
}

func (c *copier) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if c.ev.Copy != nil {
		return c.ev.Copy(b)
	}
	return string(b)
}

// unquoted returns the text of a quoted string's content: \xHH (nginx),
// \" and \\ (Apache) are decoded, unless that gives invalid UTF-8 or
// control characters; then the content is kept as written.
func (c *copier) unquoted(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return c.str(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if ch == '\\' && i+1 < len(b) {
			switch n := b[i+1]; {
			case n == '"' || n == '\\':
				ch = n
				i++
			case n == 'x' && i+3 < len(b) && hexVal(b[i+2]) >= 0 && hexVal(b[i+3]) >= 0:
				ch = byte(hexVal(b[i+2])<<4 | hexVal(b[i+3]))
				i += 3
			}
		}
		if ch < 0x20 || ch == 0x7f {
			return c.str(b)
		}
		out = append(out, ch)
	}
	if !utf8.Valid(out) {
		return c.str(b)
	}
	return c.str(out)
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// quoted reads a quoted string at the start of b. It ends at the first
// unescaped quote followed by a space or the end of b (so a stray quote
// inside a value written by a server that does not escape stays in it); an
// unterminated string runs to the end of b (ok false).
func quoted(b []byte) (content, rest []byte, ok bool) {
	for i := 1; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			break
		}
		i += j
		// An odd run of backslashes before it escapes the quote.
		k := i
		for k > 1 && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 && (i+1 == len(b) || b[i+1] == ' ') {
			return b[1:i], b[i+1:], true
		}
	}
	return b[1:], nil, false
}

// bare reads a word at the start of b, after spaces.
func bare(b []byte) (word, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i:]
	}
	return b, nil
}

// findTime returns the index in b of the "[" of a time
// "[02/Jan/2006:15:04:05 -0700]" that starts b or follows a space, or -1.
func findTime(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '[')
		if i < 0 {
			return -1
		}
		i += off
		if (i == 0 || b[i-1] == ' ') && len(b) >= i+clfLen+2 && b[i+clfLen+1] == ']' && clfShape(b[i+1:i+1+clfLen]) {
			return i
		}
		off = i + 1
	}
}

// clfShape reports whether b has the shape of 27/Nov/2026:23:39:14 +0000.
func clfShape(b []byte) bool {
	const shape = "00/Aaa/0000:00:00:00 +0000"
	for i := 0; i < clfLen; i++ {
		c := b[i]
		switch shape[i] {
		case '0':
			if c < '0' || c > '9' {
				return false
			}
		case 'A', 'a':
			if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
				return false
			}
		case '+':
			if c != '+' && c != '-' {
				return false
			}
		default:
			if c != shape[i] {
				return false
			}
		}
	}
	return true
}

// addrLike reports whether b may be an IPv4 or IPv6 address.
func addrLike(b []byte) bool {
	if len(b) > 64 {
		return false
	}
	sep := false
	for _, c := range b {
		switch {
		case c == '.' || c == ':':
			sep = true
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '%':
		default:
			return false
		}
	}
	return sep
}

// addrList reports whether b is a comma-separated list of addresses
// (an X-Forwarded-For value).
func addrList(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for s != "" {
		var e string
		e, s, _ = strings.Cut(s, ",")
		if _, _, ok := xffAddr(strings.TrimSpace(e)); !ok {
			return false
		}
	}
	return true
}

// seconds reports whether b is a duration in seconds as nginx writes it:
// digits, a dot and three digits.
func seconds(b []byte) bool {
	dot := bytes.IndexByte(b, '.')
	return dot > 0 && len(b)-dot == 4 && isUint(string(b[:dot])) && isUint(string(b[dot+1:]))
}
