package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"

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

// Detect implements format.Text: a client (address or host name), two
// words (the optional prefixes of head), a [02/Jan/2006:15:04:05 -0700]
// time and a quote.
func (combined) Detect(msg []byte, _ *format.Source) bool {
	sp := bytes.IndexByte(msg, ' ')
	if sp < 1 || sp > maxHead || !clientLike(view(msg[:sp])) && !prefixLike(msg[:sp]) {
		return false
	}
	open := findTime(msg[:min(len(msg), maxHead+clfLen+2)])
	if open < 0 {
		return false
	}
	if _, ok := splitHead(view(msg[:open])); !ok {
		return false
	}
	rest := msg[open+clfLen+2:]
	return len(rest) >= 2 && rest[0] == ' ' && rest[1] == '"'
}

// maxHead bounds what may come before the time: a virtual host, an
// X-Forwarded-For list, the client, ident and user.
const maxHead = 1400

// head is what a combined line says before its time.
type head struct {
	vhost, vport string // Apache's %v[:%p] (vhost_combined)
	xff          string // an X-Forwarded-For list logged before the client
	client       string
	user         string // "" when absent; "-" stays "-" (emit ignores it)
}

// splitHead reads "[VHOST[:PORT] ][XFF, XFF ]CLIENT IDENT USER " (the text
// before the time). The ident is "-" in practice (no one runs identd):
// the client is the token before the first "-" that follows a client-like
// token; what precedes it is a virtual host (a name, or anything with a
// port) or an X-Forwarded-For list (addresses, comma-separated). Without
// such a "-", the first token is the client and the second the ident.
func splitHead(s string) (h head, ok bool) {
	s = strings.TrimRight(s, " ")
	var toks [16]string
	n := 0
	for rest := s; rest != ""; {
		if n == len(toks) {
			return h, false
		}
		var tok string
		tok, rest, _ = strings.Cut(rest, " ")
		if tok == "" {
			if n >= 2 {
				// "invalid user  1.2.3.4": an empty user in the middle.
				toks[n] = ""
				n++
			}
			continue
		}
		toks[n] = tok
		n++
	}
	if n < 2 {
		return h, false
	}
	k := -1
	for i := 1; i < n && i < 8; i++ {
		if toks[i] == "-" && clientLike(toks[i-1]) {
			k = i
			break
		}
	}
	if k < 0 {
		// CLIENT IDENT USER...
		if !clientLike(toks[0]) {
			return h, false
		}
		h.client = toks[0]
		h.user = joinTokens(toks[2:n])
		return h, true
	}
	h.client = toks[k-1]
	h.user = joinTokens(toks[k+1 : n])
	prefix := toks[:k-1]
	switch {
	case len(prefix) == 0:
	case len(prefix) == 1 && prefix[0] == "-":
		// nginx's "$http_x_forwarded_for" without the header.
	case xffTokens(prefix):
		h.xff = strings.Join(prefix, " ")
	case len(prefix) == 1:
		v := prefix[0]
		if i := strings.LastIndexByte(v, ':'); i > 0 && isPort(v[i+1:]) && strings.IndexByte(v[:i], ':') < 0 {
			h.vhost, h.vport = v[:i], v[i+1:]
		} else {
			h.vhost = v
		}
		if !hostName(h.vhost) && !isIP(h.vhost) {
			return head{}, false
		}
	default:
		return head{}, false
	}
	return h, true
}

// xffTokens reports whether toks are an X-Forwarded-For list as logged:
// addresses, each but the last followed by a comma.
func xffTokens(toks []string) bool {
	for i, t := range toks {
		last := i == len(toks)-1
		if !last {
			if !strings.HasSuffix(t, ",") {
				return false
			}
			t = t[:len(t)-1]
		}
		for _, e := range strings.Split(t, ",") {
			if _, _, ok := xffAddr(e); !ok {
				return false
			}
		}
		if last && len(toks) == 1 && !isIP(t) && strings.IndexByte(t, ',') < 0 {
			return false // "name:port" is a virtual host
		}
	}
	return true
}

func joinTokens(toks []string) string {
	switch len(toks) {
	case 0:
		return ""
	case 1:
		return toks[0]
	}
	return strings.Join(toks, " ")
}

// clientLike reports whether s may be a client: an address or a host name.
func clientLike(s string) bool {
	return addrLike(unsafe.Slice(unsafe.StringData(s), len(s))) || hostName(s)
}

// prefixLike reports whether b may start a line's prefix: a virtual host
// with a port, an X-Forwarded-For entry with its comma, or "-".
func prefixLike(b []byte) bool {
	if len(b) == 1 && b[0] == '-' {
		return true
	}
	if len(b) > 1 && b[len(b)-1] == ',' {
		return addrLike(b[:len(b)-1])
	}
	if i := bytes.LastIndexByte(b, ':'); i > 0 {
		return hostName(view(b[:i])) && isPort(view(b[i+1:]))
	}
	return false
}

// hostName reports whether s may be a DNS host name (Apache's
// HostnameLookups, a virtual host): letters, digits, dots, hyphens and
// underscores, with a letter somewhere (so "-" and numbers are not).
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return letter && s[0] != '-' && s[0] != '.'
}

// Parse implements format.Text.
func (combined) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	var a access
	c := copier{ev: ev}
	open := findTime(msg[:min(len(msg), maxHead+clfLen+2)])
	if open < 0 {
		return errors.New("no [02/Jan/2006:15:04:05 -0700] time after the client, ident and user")
	}
	h, ok := splitHead(view(msg[:open]))
	if !ok {
		return errors.New("no client, ident and user before the time")
	}
	a.peer = copyView(ev, h.client)
	if h.user != "" {
		a.user = c.unquoted(unsafe.Slice(unsafe.StringData(h.user), len(h.user)))
	}
	a.userLogged = true
	a.xff = copyView(ev, h.xff)
	a.serverName = copyView(ev, h.vhost)
	rest := msg
	a.timeKey, a.timeVal = "time", c.str(rest[open+1:open+1+clfLen])
	vport := h.vport
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
	if err := a.emit(ev, src); err != nil {
		return err
	}
	if isPort(vport) {
		ev.Add(format.FieldDestPort, copyView(ev, vport))
	}
	return nil
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
				if s := c.str(v); a.xff == "" && (s == "-" || addrList(s)) {
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
