// Package authlog reads what Linux and BSD hosts write to their
// authentication log (auth.log, secure): OpenSSH's sshd messages and the
// messages of PAM modules (pam_unix, pam_sss, pam_faillock, ...) whatever
// the service (sshd, sudo, su, login, vsftpd, dovecot, openvpn).
//
// Both become the normalized authentication events of docs/schema.md, so
// the rules written for the mail service's logins (brute force, password
// spraying, login after failures) cover ssh on the jump hosts and VPN
// gateways next to it. One failed ssh password gives sshd's "Failed
// password" line and, with PAM, one or more PAM lines (pam_unix, then
// pam_sss, ...): only sshd's line counts as the failure (event.outcome
// failure); the PAM lines of sshd are kept with event.outcome unknown.
package authlog

import (
	"net/netip"
	"strings"
	"unsafe"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Datasets.
const (
	DatasetSSHD = "sshd" // sshd's own messages
	DatasetPAM  = "pam"  // a PAM module's message, whatever the service
)

// Fields of sshd and PAM events (defined in format/fields.go).
const (
	FieldSSHMethod = format.FieldSSHMethod
	FieldSSHKey    = format.FieldSSHKey
	FieldPAMModule = format.FieldPAMModule
)

// Text returns the format "authlog": sshd and PAM messages. A message is
// this format's when its syslog tag is sshd, sshd-session or sshd-auth
// (OpenSSH 9.8 and later log from sshd-session) or an old-style
// "service(pam_module)"; when it starts with a PAM module's
// "pam_name(service:type): "; or, without a tag (a file read by `vigil
// parse`, a journal export), when it has the shape of one of sshd's
// authentication messages.
func Text() format.Text { return text{} }

type text struct{}

// Name implements format.Text.
func (text) Name() string { return "authlog" }

// Detect implements format.Text.
func (text) Detect(msg []byte, src *format.Source) bool {
	app := ""
	if src != nil {
		app = src.App
	}
	if isSSHD(app) {
		return true
	}
	if _, _, ok := oldPAMTag(app); ok {
		return true
	}
	s := view(msg)
	if _, _, _, _, ok := pamPrefix(s); ok {
		return true
	}
	if app != "" {
		return false
	}
	var l line
	return l.sshd(s) && l.distinct()
}

// distinct reports whether l is a message only sshd or PAM writes: an
// authentication message, one about a connection before authentication
// ("[preauth]"), a scan without an identification string, or the
// "POSSIBLE BREAK-IN ATTEMPT" of a reverse mapping check.
func (l *line) distinct() bool {
	if l.dataset == DatasetPAM || l.preauth {
		return l.action != ""
	}
	return l.category == "authentication" || l.action == "no-identification" || l.action == "reverse-mapping-failed"
}

// Parse implements format.Text. It fails only for an empty message; a
// message of sshd that says nothing this package knows gets event.dataset
// sshd and no other field.
func (text) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	app := ""
	if src != nil {
		app = src.App
	}
	s := strings.TrimRight(view(msg), " \t\r\n")
	var l line
	service, module, old := oldPAMTag(app)
	switch {
	case old:
		l.pamText(module, service, s)
	default:
		if !l.sshd(s) {
			return errEmpty
		}
		if l.dataset == DatasetSSHD {
			l.service = "sshd"
		}
	}
	l.emit(ev, src)
	return nil
}

type parseError string

func (e parseError) Error() string { return string(e) }

const errEmpty = parseError("empty message")

// line is what one message says. Its strings are views of the message
// until emit copies them.
type line struct {
	dataset  string
	action   string
	category string
	typ      string
	outcome  string
	reason   string
	protocol string
	service  string // the process: sshd, or the PAM service
	module   string // the PAM module
	method   string
	key      string
	user     string
	host     string // address or host name of the client
	port     string
	preauth  bool // sshd's " [preauth]" suffix
}

// emit adds l's fields to ev, copying what comes from the message.
func (l *line) emit(ev *format.Event, src *format.Source) {
	ev.Add(format.FieldDataset, l.dataset)
	if l.action == "" {
		return
	}
	ev.Add(format.FieldCategory, l.category)
	ev.Add(format.FieldType, l.typ)
	ev.Add(format.FieldAction, l.action)
	ev.Add(format.FieldOutcome, l.outcome)
	ev.Add(format.FieldReason, copyStr(ev, l.reason))
	if l.user != "" {
		ev.SetUser(src, copyStr(ev, l.user))
	}
	if l.host != "" {
		h := strings.TrimPrefix(l.host, "::ffff:")
		if a, err := netip.ParseAddr(h); err == nil && len(h) <= 64 {
			ev.Add(format.FieldSourceIP, a.Unmap().String())
			if isPort(l.port) {
				ev.Add(format.FieldSourcePort, copyStr(ev, l.port))
			}
		} else if hostName(l.host) {
			ev.Add(format.FieldSourceDomain, copyStr(ev, l.host))
		}
	}
	ev.Add(format.FieldProtocol, l.protocol)
	ev.Add(format.FieldProcessName, copyStr(ev, l.service))
	ev.Add(FieldPAMModule, copyStr(ev, l.module))
	ev.Add(FieldSSHMethod, copyStr(ev, l.method))
	ev.Add(FieldSSHKey, copyStr(ev, l.key))
}

// set sets what kind of event l is.
func (l *line) set(action, category, typ, outcome string) {
	l.action, l.category, l.typ, l.outcome = action, category, typ, outcome
}

// isSSHD reports whether a syslog tag is OpenSSH's server.
func isSSHD(app string) bool {
	return app == "sshd" || app == "sshd-session" || app == "sshd-auth"
}

// view returns b as a string without copying; values taken from it must be
// copied (copyStr) before they are stored.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// copyStr copies s into the event's memory.
func copyStr(ev *format.Event, s string) string {
	if s == "" {
		return ""
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	if ev.Copy != nil {
		return ev.Copy(b)
	}
	return string(b)
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hostName reports whether s may be a DNS host name (sshd with UseDNS, or
// PAM's rhost, may log one instead of the address).
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hostLike reports whether s may be a client: an address or a host name.
func hostLike(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return hostName(s)
}
