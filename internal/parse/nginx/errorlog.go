package nginx

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Fields of error log events (defined in format/fields.go; ECS names,
// except the nginx.* ones).
const (
	FieldLogLevel     = format.FieldLogLevel
	FieldErrorMessage = format.FieldErrorMessage
	FieldProcessPID   = format.FieldProcessPID
	FieldLimitZone    = format.FieldLimitZone
	FieldLimitExcess  = format.FieldLimitExcess
	FieldUpstream     = format.FieldUpstream
)

// errorDataset is event.dataset of every error log event.
const errorDataset = "nginx.error"

// Error returns the format "nginx-error": nginx's error log,
//
//	2026/11/28 10:00:00 [error] 1234#1234: *5678 message, client: 192.0.2.1, server: mail.example, request: "GET /x HTTP/1.1", upstream: "http://10.0.0.5:443/x", host: "mail.example", referrer: "..."
//
// as nginx writes it to a file or to syslog (error_log syslog:server=...).
// The time has no offset: it is read in the input's time zone. Lines
// without the time ("[error] 1234#1234: ...") are read too.
func Error() format.Text { return errorLog{} }

type errorLog struct{}

// Name implements format.Text.
func (errorLog) Name() string { return "nginx-error" }

// Detect implements format.Text: "2006/01/02 15:04:05 [level] pid#tid: ".
func (errorLog) Detect(msg []byte, _ *format.Source) bool {
	_, _, _, _, ok := errorHead(view(msg))
	return ok
}

// Parse implements format.Text.
func (errorLog) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	s := strings.TrimRight(view(msg), "\r\n")
	stamp, level, pid, rest, ok := errorHead(s)
	if !ok {
		return errors.New(`no "2006/01/02 15:04:05 [level] pid#tid: " at the start`)
	}
	if stamp != "" {
		loc := time.UTC
		if src != nil && src.Location != nil {
			loc = src.Location
		}
		t, err := time.ParseInLocation("2006/01/02 15:04:05", stamp, loc)
		if err != nil {
			return fmt.Errorf("time %q: %w", stamp, err)
		}
		ev.Time = t
	}
	ev.Add(format.FieldDataset, errorDataset)
	ev.Add(FieldLogLevel, levelName(level))
	addView(ev, FieldProcessPID, pid)

	// "*CID " is the connection's number.
	if strings.HasPrefix(rest, "*") {
		if sp := strings.IndexByte(rest, ' '); sp > 1 && isUint(rest[1:sp]) {
			rest = rest[sp+1:]
		}
	}
	text, ctx := splitErrorContext(rest)
	addView(ev, FieldErrorMessage, text)

	var client, server, request, upstream, host, referrer string
	for ctx != "" {
		var k, v string
		k, v, ctx = nextContext(ctx)
		switch k {
		case "client":
			client = v
		case "server":
			server = v
		case "request":
			request = v
		case "upstream":
			upstream = v
		case "host":
			host = v
		case "referrer":
			referrer = v
		}
	}
	if isIP(client) {
		addView(ev, format.FieldSourceIP, client)
	} else {
		addView(ev, fieldSourceAddress, client)
	}
	if m, target, version := splitRequest(request); m != "" {
		path, query := splitTarget(target)
		addView(ev, format.FieldMethod, m)
		addView(ev, format.FieldURLPath, path)
		addView(ev, format.FieldURLQuery, query)
		addView(ev, fieldHTTPVersion, version)
	}
	// Before the virtual server is known (a TLS handshake), nginx names the
	// listening address: not a host name.
	if server != "_" && hostName(server) {
		addView(ev, format.FieldHostName, server)
	}
	addView(ev, format.FieldURLDomain, stripPort(host))
	addView(ev, FieldUpstream, upstream)
	addView(ev, format.FieldReferrer, referrer)

	classify(ev, src, level, text)
	return nil
}

// classify sets the event's category, type and action from the message.
func classify(ev *format.Event, src *format.Source, level, text string) {
	action, typ := "", levelType(level)
	switch {
	case strings.HasPrefix(text, "limiting requests"):
		// limit_req: "limiting requests, excess: 10.520 by zone "one"".
		action, typ = "rate-limited", "denied"
		addLimit(ev, text)
	case strings.HasPrefix(text, "delaying request"):
		action, typ = "rate-delayed", "info"
		addLimit(ev, text)
	case strings.HasPrefix(text, "limiting connections"):
		// limit_conn: "limiting connections by zone "addr"".
		action, typ = "connection-limited", "denied"
		addLimit(ev, text)
	case strings.Contains(text, "upstream timed out"):
		action = "upstream-timeout"
	case strings.Contains(text, "upstream prematurely closed"), strings.Contains(text, "no live upstreams"),
		strings.Contains(text, "connect() failed") && strings.Contains(text, "upstream"):
		action = "upstream-failed"
	case strings.Contains(text, "SSL_do_handshake() failed"), strings.Contains(text, "SSL handshake"),
		strings.HasPrefix(text, "SSL_"):
		action = "tls-handshake-failed"
	case strings.Contains(text, "failed (2: No such file or directory)"), strings.Contains(text, "is not found (2: No such file"):
		action = "file-not-found"
	case strings.Contains(text, "access forbidden by rule"), strings.Contains(text, "directory index of"):
		action, typ = "access-denied", "denied"
	case strings.HasPrefix(text, "user \""):
		// auth_basic: `user "alice": password mismatch`, `user "bob" was
		// not found in "/etc/nginx/htpasswd"`. The access log has the same
		// request's 401: the failure counts there, not here.
		action, typ = "basic-auth-failed", "denied"
		if end := strings.IndexByte(text[6:], '"'); end >= 0 {
			user := text[6 : 6+end]
			ev.SetUser(src, copyView(ev, user))
		}
	case strings.Contains(text, "client intended to send too large body"):
		action, typ = "request-too-large", "denied"
	}
	ev.Add(format.FieldCategory, "web")
	ev.Add(format.FieldType, typ)
	ev.Add(format.FieldAction, action)
}

// addLimit adds the zone and excess of a limit_req/limit_conn message.
func addLimit(ev *format.Event, text string) {
	if i := strings.Index(text, "excess: "); i >= 0 {
		v := text[i+len("excess: "):]
		if sp := strings.IndexByte(v, ' '); sp > 0 {
			addView(ev, FieldLimitExcess, v[:sp])
		}
	}
	if i := strings.Index(text, `by zone "`); i >= 0 {
		v := text[i+len(`by zone "`):]
		if end := strings.IndexByte(v, '"'); end > 0 {
			addView(ev, FieldLimitZone, v[:end])
		}
	}
}

// errorHead reads "2006/01/02 15:04:05 [level] pid#tid: " (the time may be
// missing) and returns the rest.
func errorHead(s string) (stamp, level, pid, rest string, ok bool) {
	if len(s) > 20 && s[4] == '/' && s[7] == '/' && s[10] == ' ' && s[13] == ':' && s[19] == ' ' && digitsAt(s, 0, 4) {
		stamp, s = s[:19], s[20:]
	}
	if len(s) < 3 || s[0] != '[' {
		return "", "", "", "", false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", "", "", "", false
	}
	level = s[1:end]
	switch level {
	case "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg":
	default:
		return "", "", "", "", false
	}
	s = s[end+1:]
	if len(s) < 2 || s[0] != ' ' {
		return "", "", "", "", false
	}
	head, rest, found := strings.Cut(s[1:], ": ")
	if !found {
		head, rest, found = strings.Cut(s[1:], ":")
		if !found || rest != "" {
			return "", "", "", "", false
		}
	}
	p, t, found := strings.Cut(head, "#")
	if !found || !isUint(p) || !isUint(t) {
		return "", "", "", "", false
	}
	return stamp, level, p, rest, true
}

func digitsAt(s string, i, n int) bool {
	for j := i; j < i+n; j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	return true
}

// errorContext names the context nginx appends to a message, in its order.
var errorContext = []string{", client: ", ", server: ", ", request: ", ", subrequest: ", ", upstream: ", ", host: ", ", referrer: "}

// splitErrorContext splits a message from the ", client: ..." context
// nginx appends (or ", server: ..." when there is no client).
func splitErrorContext(s string) (text, ctx string) {
	for _, k := range errorContext[:2] {
		if i := strings.LastIndex(s, k); i >= 0 {
			// The context's keys come in one order: the first one present
			// starts it. A message quoting ", client: " itself is rare.
			if k == ", server: " && strings.Contains(s[i:], ", client: ") {
				continue
			}
			return s[:i], s[i+2:]
		}
	}
	return s, ""
}

// nextContext reads "key: value" from the context: the value is quoted
// for request, upstream, host and referrer, bare for client and server.
func nextContext(ctx string) (key, value, rest string) {
	key, rest, ok := strings.Cut(ctx, ": ")
	if !ok {
		return "", "", ""
	}
	if strings.HasPrefix(rest, `"`) {
		// A quoted value ends at `", ` followed by the next known key, or
		// at the end.
		body := rest[1:]
		for off := 0; ; {
			i := strings.Index(body[off:], `"`)
			if i < 0 {
				return key, body, ""
			}
			i += off
			after := body[i+1:]
			if after == "" {
				return key, body[:i], ""
			}
			if strings.HasPrefix(after, ", ") && knownContext(after) {
				return key, body[:i], after[2:]
			}
			off = i + 1
		}
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == ',' && knownContext(rest[i:]) {
			return key, rest[:i], rest[i+2:]
		}
	}
	return key, rest, ""
}

func knownContext(s string) bool {
	for _, k := range errorContext {
		if strings.HasPrefix(s, k) {
			return true
		}
	}
	return false
}

// levelType is event.type of a message at a log level: error for error
// and worse, else info.
func levelType(level string) string {
	switch level {
	case "error", "crit", "alert", "emerg":
		return "error"
	}
	return "info"
}

// levelName returns the constant for a level, so that the event does not
// refer to the message's memory.
func levelName(l string) string {
	for _, n := range [...]string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"} {
		if l == n {
			return n
		}
	}
	return ""
}

// view returns b as a string without copying; values taken from it are
// stored through addView or copyView, which copy.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// copyView copies s, a view of the message, into the event's memory.
func copyView(ev *format.Event, s string) string {
	if s == "" {
		return ""
	}
	c := copier{ev: ev}
	return c.str(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// addView adds a field whose value is a view of the message, copying it.
func addView(ev *format.Event, name, s string) {
	if s == "" || s == "-" {
		return
	}
	ev.AddBytes(name, unsafe.Slice(unsafe.StringData(s), len(s)))
}
