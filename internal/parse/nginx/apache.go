package nginx

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Fields of Apache error log events (defined in format/fields.go).
const (
	FieldErrorCode      = format.FieldErrorCode
	FieldThreadID       = format.FieldThreadID
	FieldApacheModule   = format.FieldApacheModule
	apacheErrorDataset  = "apache.error"
	apacheTimeLayout    = "Mon Jan 02 15:04:05 2006"
	apacheTimeLayoutSub = "Mon Jan 02 15:04:05.000000 2006"
)

// ApacheError returns the format "apache-error": Apache httpd's error log
// in the 2.4 shape
//
//	[Sat Nov 28 10:00:00.123456 2026] [core:error] [pid 1234:tid 5678] [client 192.0.2.1:5678] AH00126: Invalid URI in request ...
//
// and the 2.2 shape "[Sat Nov 28 10:00:00 2026] [error] [client 192.0.2.1]
// message". Apache's access log is `combined` (Combined). The time has no
// offset: it is read in the input's time zone.
func ApacheError() format.Text { return apacheError{} }

type apacheError struct{}

// Name implements format.Text.
func (apacheError) Name() string { return "apache-error" }

// Detect implements format.Text: "[Www Mmm dd hh:mm:ss[.ffffff] yyyy] [".
func (apacheError) Detect(msg []byte, _ *format.Source) bool {
	_, rest, ok := apacheTime(view(msg))
	return ok && strings.HasPrefix(rest, " [")
}

// Parse implements format.Text.
func (apacheError) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	s := strings.TrimRight(view(msg), "\r\n")
	stamp, rest, ok := apacheTime(s)
	if !ok {
		return errors.New(`no "[Mon Jan 02 15:04:05 2006]" time at the start`)
	}
	loc := time.UTC
	if src != nil && src.Location != nil {
		loc = src.Location
	}
	layout := apacheTimeLayout
	if len(stamp) > len(apacheTimeLayout) {
		layout = apacheTimeLayoutSub
	}
	t, err := time.ParseInLocation(layout, stamp, loc)
	if err != nil {
		return fmt.Errorf("time %q: %w", stamp, err)
	}
	// "[module:level]", "[:level]" (2.4) or "[level]" (2.2).
	tag, rest, ok := bracket(rest)
	if !ok {
		return errors.New("no [module:level] after the time")
	}
	module, level, found := strings.Cut(tag, ":")
	if !found {
		module, level = "", tag
	}
	if !apacheLevel(level) {
		return fmt.Errorf("level %q is not an Apache log level", level)
	}
	ev.Time = t
	ev.Add(format.FieldDataset, apacheErrorDataset)
	ev.Add(FieldLogLevel, apacheLevelName(level))
	addView(ev, FieldApacheModule, module)

	var client string
	for {
		v, r, ok := bracket(rest)
		if !ok {
			break
		}
		switch {
		case strings.HasPrefix(v, "pid "):
			pid, tid, _ := strings.Cut(v[4:], ":tid ")
			if isUint(pid) {
				addView(ev, FieldProcessPID, pid)
			}
			if isUint(tid) {
				addView(ev, FieldThreadID, tid)
			}
		case strings.HasPrefix(v, "client "), strings.HasPrefix(v, "remote "):
			if client == "" {
				client = v[7:]
			}
		default:
			goto text
		}
		rest = r
	}
text:
	text := strings.TrimLeft(rest, " ")
	// A debug line's "mod_file.c(123): ", an APR error "(70008)Text: ",
	// then the client may follow.
	prefix := ""
	if i := strings.Index(text, "[client "); i >= 0 && i < 256 {
		if j := strings.IndexByte(text[i:], ']'); j > 0 {
			if client == "" {
				client = text[i+8 : i+j]
			}
			prefix, text = strings.TrimRight(text[:i], " "), strings.TrimLeft(text[i+j+1:], " ")
		}
	}
	if ip, port, ok := splitHostPort(client); ok {
		addView(ev, format.FieldSourceIP, ip)
		addView(ev, format.FieldSourcePort, port)
	} else {
		addView(ev, fieldSourceAddress, client)
	}
	if len(text) > 9 && text[0] == 'A' && text[1] == 'H' && text[7] == ':' && text[8] == ' ' && isUint(text[2:7]) {
		addView(ev, FieldErrorCode, text[:7])
		text = text[9:]
	}
	if i := strings.LastIndex(text, ", referer: "); i >= 0 {
		addView(ev, format.FieldReferrer, text[i+len(", referer: "):])
		text = text[:i]
	}
	if prefix != "" {
		// Not a view of the message any more: copied by Add's caller.
		addView(ev, FieldErrorMessage, prefix+" "+text)
	} else {
		addView(ev, FieldErrorMessage, text)
	}
	apacheClassify(ev, src, level, text)
	return nil
}

// apacheClassify sets the event's category, type and action.
func apacheClassify(ev *format.Event, src *format.Source, level, text string) {
	action, typ := "", levelType(level)
	switch {
	case strings.Contains(text, "client denied by server configuration"), strings.Contains(text, "forbidden by rule"),
		strings.Contains(text, "forbidden by Options directive"):
		action, typ = "access-denied", "denied"
	case strings.HasPrefix(text, "user "):
		// mod_auth_basic: "user alice: authentication failure for "/x":
		// Password Mismatch", "user bob not found: /x". The access log's
		// 401 for the same request is where a failure counts.
		user := text[5:]
		if i := strings.IndexAny(user, ": "); i > 0 {
			user = user[:i]
		}
		if strings.Contains(text, "authentication failure") || strings.Contains(text, "not found") {
			action, typ = "basic-auth-failed", "denied"
			ev.SetUser(src, copyView(ev, user))
		}
	case strings.HasPrefix(text, "File does not exist"), strings.Contains(text, "not found or unable to stat"):
		action = "file-not-found"
	case strings.HasPrefix(text, "Invalid URI in request"), strings.HasPrefix(text, "Invalid method in request"),
		strings.HasPrefix(text, "request failed: "):
		action, typ = "invalid-request", "denied"
	case strings.Contains(text, "ModSecurity: Access denied"):
		action, typ = "waf-denied", "denied"
	case strings.Contains(text, "SSL handshake"), strings.Contains(text, "SSL Library Error"), strings.Contains(text, "SSL library error"):
		action = "tls-handshake-failed"
	case strings.Contains(text, "MaxRequestWorkers"), strings.Contains(text, "MaxClients"):
		action = "capacity-reached"
	case strings.Contains(text, "timeout") || strings.Contains(text, "timed out"):
		if strings.Contains(text, "proxy") || strings.Contains(text, "backend") || strings.Contains(text, "remote server") {
			action = "upstream-timeout"
		}
	}
	ev.Add(format.FieldCategory, "web")
	ev.Add(format.FieldType, typ)
	ev.Add(format.FieldAction, action)
}

// apacheTime reads "[Sat Nov 28 10:00:00[.123456] 2026]" at the start of
// s: the time inside, and what follows the "]".
func apacheTime(s string) (stamp, rest string, ok bool) {
	if len(s) < 2+len(apacheTimeLayout) || s[0] != '[' {
		return "", "", false
	}
	end := strings.IndexByte(s, ']')
	if end != 1+len(apacheTimeLayout) && end != 1+len(apacheTimeLayoutSub) {
		return "", "", false
	}
	stamp = s[1:end]
	// Www Mmm dd hh:mm:ss[.ffffff] yyyy
	if stamp[3] != ' ' || stamp[7] != ' ' || stamp[10] != ' ' || stamp[13] != ':' || stamp[16] != ':' || monthOf(stamp[4:7]) == 0 {
		return "", "", false
	}
	y := stamp[len(stamp)-4:]
	if stamp[len(stamp)-5] != ' ' || !isUint(y) {
		return "", "", false
	}
	return stamp, s[end+1:], true
}

// bracket reads " [value]" at the start of s.
func bracket(s string) (value, rest string, ok bool) {
	if len(s) < 3 || s[0] != ' ' || s[1] != '[' {
		return "", s, false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", s, false
	}
	return s[2:end], s[end+1:], true
}

// splitHostPort splits a client as Apache writes it: "192.0.2.1:5678",
// "192.0.2.1", "[2001:db8::1]:5678". An IPv6 address followed by a port
// without brackets cannot be told from an address and is taken whole.
func splitHostPort(s string) (ip, port string, ok bool) {
	if isIP(s) {
		return s, "", true
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && isPort(s[i+1:]) {
		h := strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
		if isIP(h) {
			return h, s[i+1:], true
		}
	}
	return "", "", false
}

func apacheLevel(l string) bool { return apacheLevelName(l) != "" }

// apacheLevelName returns the constant for an Apache log level.
func apacheLevelName(l string) string {
	switch l {
	case "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug":
		return levelName(l)
	case "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7", "trace8":
		return "trace"
	}
	return ""
}
