// Package nginx reads nginx and OpenResty access logs: the JSON lines of a
// `log_format ... escape=json` (JSON, whatever its key names) and the
// classic `combined`/`common` text lines (Combined). Both give the same
// normalized fields (docs/schema.md, "nginx access logs"); the meaning of
// each request to an Exchange front end (protocol, ActiveSync device,
// authentication outcome) comes from format.AddHTTP. The package also
// reads the error logs of nginx (Error) and of Apache httpd (ApacheError),
// whose access log is Combined.
package nginx

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Field names this package sets that format/fields.go does not define yet
// (ECS names, except fieldProxyIP).
const (
	// fieldProxyIP is the proxy a request came through when source.ip was
	// taken from X-Forwarded-For (or from nginx's realip module).
	fieldProxyIP       = format.FieldSourceNATIP
	fieldSourceAddress = "source.address" // the client when it is not an IP (unix:)
	fieldHTTPVersion   = "http.version"
	fieldRequestBytes  = "http.request.bytes"
	fieldHostIP        = "host.ip" // the front end's own address (the original deployment's "source" key)
)

// dataset is event.dataset of every access log event.
const dataset = "nginx.access"

// access is what one access log line says, as strings that live as long as
// the event. Empty means absent; "-" is treated as absent too.
type access struct {
	peer       string // $remote_addr: the address nginx saw
	peerPort   string // $remote_port
	realIP     string // $realip_remote_addr: the peer before the realip module replaced it
	xff        string // $http_x_forwarded_for
	user       string // $remote_user
	userLogged bool   // the line has a $remote_user field (even "-")
	timeKey    string // name of the time value, for errors
	timeVal    string // $time_local, $time_iso8601 or $msec: must parse
	looseTime  string // a generic time key (time, timestamp): used when it parses
	request    string // $request: "METHOD target HTTP/x.y"
	method     string // $request_method
	requestURI string // $request_uri: path?query as sent
	uri        string // $uri: path only
	args       string // $args, $query_string
	status     string
	bytes      string // $bytes_sent (headers and body)
	bodyBytes  string // $body_bytes_sent
	reqBytes   string // $request_length
	reqTime    string // $request_time, seconds with a fraction
	referrer   string
	userAgent  string
	serverName string // $server_name
	host       string // $host, $http_host (client-supplied)
	location   string // $sent_http_location
	upLocation string // $upstream_http_location
	serverAddr string // $server_addr
	serverPort string // $server_port
	reporter   string // the original deployment's "source": the front end's address
}

// emit adds a's normalized fields to ev. It returns an error, and adds
// nothing, only when a's strict time value does not parse.
func (a *access) emit(ev *format.Event, src *format.Source) error {
	var t time.Time
	switch {
	case present(a.timeVal):
		var ok bool
		if t, ok = parseTime(a.timeVal); !ok {
			return fmt.Errorf("%s %q is not a time (want 02/Jan/2006:15:04:05 -0700, RFC 3339 or epoch seconds)", a.timeKey, a.timeVal)
		}
	case present(a.looseTime):
		t = parseLooseTime(a.looseTime, src)
	}
	if !t.IsZero() {
		ev.Time = t
	}
	ev.Add(format.FieldDataset, dataset)

	client, proxy, forwarded := clientAddr(a.peer, a.realIP, a.xff)
	if isIP(client) {
		ev.Add(format.FieldSourceIP, client)
		if !forwarded && isPort(a.peerPort) {
			ev.Add(format.FieldSourcePort, a.peerPort)
		}
	} else if hostName(client) {
		ev.Add(format.FieldSourceDomain, client) // Apache's HostnameLookups
	} else {
		ev.Add(fieldSourceAddress, client)
	}
	ev.Add(fieldProxyIP, proxy)
	ev.Add(format.FieldForwardedFor, a.xff)
	if isIP(a.serverAddr) {
		ev.Add(format.FieldDestIP, a.serverAddr)
		if isPort(a.serverPort) {
			ev.Add(format.FieldDestPort, a.serverPort)
		}
	}

	method, target, version := a.method, a.requestURI, ""
	if present(a.request) {
		m, tg, v := splitRequest(a.request)
		if !present(method) {
			method = m
		}
		if !present(target) {
			target = tg
		}
		version = v
	}
	var path, query string
	if present(target) {
		path, query = splitTarget(target)
	} else if present(a.uri) {
		path = a.uri
	}
	if query == "" && present(a.args) {
		query = a.args
	}
	location := a.location
	if !present(location) {
		location = a.upLocation
	}
	if !present(location) {
		location = ""
	}
	user := a.user
	if !present(user) {
		user = ""
	}
	n := len(ev.Fields)
	format.AddHTTP(ev, src, format.HTTP{
		Method:     clean(method),
		Path:       clean(path),
		Query:      clean(query),
		Status:     status(a.status),
		User:       user,
		UserAgent:  a.userAgent,
		Location:   location,
		UserLogged: a.userLogged,
	})
	// AddHTTP percent-decodes the query (ActiveSync User, DeviceId, Cmd):
	// %80 gives a byte that is not UTF-8, which the store must not get.
	for i := n; i < len(ev.Fields); i++ {
		if v := ev.Fields[i].Value; !utf8.ValidString(v) {
			ev.Fields[i].Value = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	ev.Add(fieldHTTPVersion, version)
	switch {
	case isUint(a.bytes):
		ev.Add(format.FieldBytes, a.bytes)
	case isUint(a.bodyBytes):
		ev.Add(format.FieldBytes, a.bodyBytes)
	}
	if isUint(a.reqBytes) {
		ev.Add(fieldRequestBytes, a.reqBytes)
	}
	if present(a.reqTime) {
		if ns, ok := nanos(a.reqTime); ok {
			ev.AddInt(format.FieldDuration, ns)
		}
	}
	ev.Add(format.FieldReferrer, a.referrer)
	switch {
	case present(a.serverName) && a.serverName != "_":
		ev.Add(format.FieldHostName, a.serverName)
	case present(a.host):
		ev.Add(format.FieldHostName, stripPort(a.host))
	}
	if isIP(a.reporter) {
		ev.Add(fieldHostIP, a.reporter)
	}
	return nil
}

// present reports whether a log value is set: nginx writes "-" for unset
// variables.
func present(s string) bool { return s != "" && s != "-" }

// clean returns s, or "" for nginx's "-".
func clean(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// status returns an HTTP status code, or 0.
func status(s string) int {
	if len(s) != 3 || !isUint(s) {
		return 0
	}
	n, _ := strconv.Atoi(s)
	if n < 100 {
		return 0
	}
	return n
}

// isUint reports whether s is a decimal number of at most 19 digits.
func isUint(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isPort reports whether s is a TCP/UDP port number.
func isPort(s string) bool {
	if len(s) > 5 || !isUint(s) {
		return false
	}
	n, _ := strconv.Atoi(s)
	return n <= 65535
}

func isIP(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// stripPort removes a ":port" from a Host header value.
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]:"); i > 0 && isUint(h[i+2:]) {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i > 0 && strings.IndexByte(h[:i], ':') < 0 && isUint(h[i+1:]) {
		return h[:i]
	}
	return h
}

// internal reports whether a is an address of the site's own network:
// private, loopback or link-local. A peer there is taken to be a proxy of
// the site, whose X-Forwarded-For can be believed.
func internal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
}

// clientAddr decides who made the request (docs/schema.md, "Client address
// behind proxies"):
//
//   - with nginx's realip module, $remote_addr is already the client and
//     $realip_remote_addr the proxy;
//   - else, when the peer is an internal address (a load balancer or
//     another proxy of the site) and X-Forwarded-For is set, the client is
//     the rightmost address in it that is not internal (the last hop that
//     the site's own proxies recorded; entries to its left were sent by
//     the client and can be forged); when every entry is internal, the
//     leftmost one;
//   - else the peer: a client on the Internet may send any X-Forwarded-For.
//
// forwarded reports whether client came from X-Forwarded-For.
func clientAddr(peer, realIP, xff string) (client, proxy string, forwarded bool) {
	peer = clean(peer)
	if present(realIP) && realIP != peer && isIP(realIP) {
		return peer, realIP, false
	}
	if !present(xff) || len(peer) > 64 {
		return peer, "", false
	}
	pa, err := netip.ParseAddr(peer)
	if err != nil || !internal(pa) {
		return peer, "", false
	}
	leftmost := ""
	for rest := xff; ; {
		i := strings.LastIndexByte(rest, ',')
		entry := strings.TrimSpace(rest[i+1:])
		ip, a, ok := xffAddr(entry)
		if !ok {
			// Something the site's proxies did not write: trust no
			// further to the left.
			break
		}
		if !internal(a) {
			return ip, peer, true
		}
		leftmost = ip
		if i < 0 {
			break
		}
		rest = rest[:i]
	}
	if leftmost != "" {
		return leftmost, peer, true
	}
	return peer, "", false
}

// xffAddr parses one X-Forwarded-For entry: an address, optionally with a
// port ("192.0.2.1:5000", "[2001:db8::1]:5000"). ip is the address part of
// entry.
func xffAddr(entry string) (ip string, a netip.Addr, ok bool) {
	if entry == "" || len(entry) > 64 {
		return "", a, false
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		return entry, a, true
	}
	ip = entry
	if entry[0] == '[' {
		if i := strings.IndexByte(entry, ']'); i > 0 {
			ip = entry[1:i]
		}
	} else if i := strings.IndexByte(entry, ':'); i > 0 && strings.Count(entry, ":") == 1 {
		ip = entry[:i]
	}
	a, err := netip.ParseAddr(ip)
	return ip, a, err == nil
}

// splitRequest splits a request line "METHOD target HTTP/x.y" into method,
// target and version ("1.1"). A line that does not start with a method
// (e.g. TLS bytes sent to a plain-text port) gives nothing.
func splitRequest(line string) (method, target, version string) {
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 || !isMethod(line[:sp]) {
		return "", "", ""
	}
	method, rest := line[:sp], strings.TrimLeft(line[sp+1:], " ")
	if j := strings.LastIndexByte(rest, ' '); j >= 0 && strings.HasPrefix(rest[j+1:], "HTTP/") {
		target, version = strings.TrimRight(rest[:j], " "), rest[j+6:]
	} else {
		target = rest
	}
	return method, target, version
}

// isMethod reports whether s looks like an HTTP method: GET, PROPFIND,
// RPC_IN_DATA (Outlook Anywhere), ...
func isMethod(s string) bool {
	if len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// splitTarget splits a request target into path and query. An absolute
// URI ("http://host/path", sent to probe for open proxies) gives its path.
func splitTarget(target string) (path, query string) {
	if i := strings.Index(target, "://"); i > 0 && i < 6 && strings.IndexByte(target[:i], '/') < 0 {
		rest := target[i+3:]
		j := strings.IndexAny(rest, "/?")
		if j < 0 {
			return "/", ""
		}
		target = rest[j:]
		if target[0] == '?' {
			return "/", target[1:]
		}
	}
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

// nanos returns seconds with a fraction ("0.004") as whole nanoseconds
// (4000000). Digits past nanoseconds are dropped.
func nanos(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(whole) > 9 || whole != "" && !isUint(whole) || frac != "" && !isUint(frac) {
		return 0, false
	}
	var ns int64
	for i := 0; i < len(whole); i++ {
		ns = ns*10 + int64(whole[i]-'0')
	}
	for i := range 9 {
		ns *= 10
		if i < len(frac) {
			ns += int64(frac[i] - '0')
		}
	}
	return ns, true
}

// parseTime parses nginx's $time_local (27/Nov/2026:23:39:14 +0000),
// $time_iso8601 (2026-11-27T23:39:14+00:00) or $msec (1795822754.123).
func parseTime(s string) (time.Time, bool) {
	if t, ok := parseCLF(s); ok {
		return t, true
	}
	if t, ok := parseEpoch(s); ok {
		return t, true
	}
	if len(s) < 20 || s[4] != '-' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseLooseTime parses a generic time key's value; a time without an
// offset is in src's location. It returns the zero time when s is not a
// time.
func parseLooseTime(s string, src *format.Source) time.Time {
	if t, ok := parseTime(s); ok {
		return t
	}
	loc := time.UTC
	if src != nil && src.Location != nil {
		loc = src.Location
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseEpoch parses seconds since 1970 with an optional fraction.
func parseEpoch(s string) (time.Time, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole) < 9 || len(whole) > 11 || !isUint(whole) || frac != "" && !isUint(frac) {
		return time.Time{}, false
	}
	sec, _ := strconv.ParseInt(whole, 10, 64)
	var ns int64
	for i := range 9 {
		ns *= 10
		if i < len(frac) {
			ns += int64(frac[i] - '0')
		}
	}
	return time.Unix(sec, ns).UTC(), true
}

// clfLen is the length of "27/Nov/2026:23:39:14 +0000".
const clfLen = 26

// parseCLF parses the Common Log Format time 27/Nov/2026:23:39:14 +0000
// without allocating. The result is in UTC.
func parseCLF(s string) (time.Time, bool) {
	if len(s) != clfLen || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
		s[21] != '+' && s[21] != '-' {
		return time.Time{}, false
	}
	day, ok1 := digits(s[0:2])
	year, ok2 := digits(s[7:11])
	hour, ok3 := digits(s[12:14])
	minute, ok4 := digits(s[15:17])
	sec, ok5 := digits(s[18:20])
	oh, ok6 := digits(s[22:24])
	om, ok7 := digits(s[24:26])
	month := monthOf(s[3:6])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month == 0 ||
		day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 || oh > 23 || om > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31/Feb
	}
	off := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
	if s[21] == '-' {
		off = -off
	}
	return t.Add(-off), true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func monthOf(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}
