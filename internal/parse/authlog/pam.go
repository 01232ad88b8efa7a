package authlog

import (
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// pamPrefix reads the "pam_module(service:type): " that PAM modules put
// before their messages (pam_unix(sshd:auth), pam_sss(sudo:auth),
// pam_unix(cron:session)).
func pamPrefix(s string) (module, service, typ, rest string, ok bool) {
	if !strings.HasPrefix(s, "pam_") {
		return "", "", "", "", false
	}
	open := strings.IndexByte(s, '(')
	if open < 5 || open > 32 || !word(s[:open]) {
		return "", "", "", "", false
	}
	end := strings.Index(s[open:], "): ")
	if end < 0 {
		return "", "", "", "", false
	}
	end += open
	service, typ, ok = strings.Cut(s[open+1:end], ":")
	if !ok || service == "" || len(service) > 64 || !serviceName(service) || !word(typ) {
		return "", "", "", "", false
	}
	return s[:open], service, typ, s[end+3:], true
}

// oldPAMTag reads the syslog tag "service(pam_module)" that PAM wrote
// before 2008 (Linux-PAM 0.99: "sshd(pam_unix)[1234]: ...").
func oldPAMTag(app string) (service, module string, ok bool) {
	open := strings.IndexByte(app, '(')
	if open <= 0 || !strings.HasSuffix(app, ")") {
		return "", "", false
	}
	service, module = app[:open], app[open+1:len(app)-1]
	if !strings.HasPrefix(module, "pam_") || !word(module) || !serviceName(service) {
		return "", "", false
	}
	return service, module, true
}

// word reports whether s is lower-case letters, digits and underscores.
func word(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// serviceName reports whether s may be a PAM service name (sshd, su-l,
// polkit-1, systemd-user, openvpn).
func serviceName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// pamText reads a PAM module's message. A failure or success of a service
// that logs its attempts itself (sshd) is not counted again: it gets
// event.outcome unknown. For any other service (sudo, su, login, vsftpd,
// dovecot, openvpn) the PAM line is the record of the attempt.
func (l *line) pamText(module, service, s string) {
	l.dataset, l.module, l.service = DatasetPAM, module, service
	counted := !isSSHD(service)
	switch service {
	case "sshd", "sshd-session", "sshd-auth":
		l.protocol = "ssh"
	case "vsftpd", "proftpd", "pure-ftpd", "ftp", "ftpd":
		l.protocol = "ftp"
	}
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "authentication failure"):
		_, kvs, _ := strings.Cut(s, ";")
		l.pamFields(kvs)
		l.reason = "authentication failure (" + module + ")"
		if counted {
			l.set("logon-failed", "authentication", "start", format.OutcomeFailure)
		} else {
			l.set("pam-authentication-failure", "authentication", "info", format.OutcomeUnknown)
		}
	case strings.HasPrefix(s, "authentication success"):
		_, kvs, _ := strings.Cut(s, ";")
		l.pamFields(kvs)
		if counted {
			l.set("logged-in", "authentication", "start", format.OutcomeSuccess)
		} else {
			l.set("pam-authentication-success", "authentication", "info", format.OutcomeUnknown)
		}
	case strings.HasPrefix(s, "check pass; user unknown"):
		l.set("user-unknown", "authentication", "info", format.OutcomeUnknown)
		l.reason = "no such user"
	case strings.HasPrefix(s, "session opened for user "):
		// "session opened for user NAME[(uid=N)] by [LOGIN](uid=N)".
		user, _, _ := strings.Cut(s[len("session opened for user "):], " by ")
		user, _, _ = strings.Cut(user, "(uid=")
		l.user = user
		l.set("session-opened", "session", "start", "")
	case strings.HasPrefix(s, "session closed for user "):
		l.user = s[len("session closed for user "):]
		l.set("session-closed", "session", "end", "")
	case strings.HasPrefix(s, "Consecutive login failures for user "):
		// pam_faillock: "... for user NAME account temporarily locked".
		user, _, _ := strings.Cut(s[len("Consecutive login failures for user "):], " account ")
		l.user = user
		l.set("account-locked", "iam", "change", "")
		l.reason = "consecutive login failures (" + module + ")"
	case strings.HasPrefix(s, "received for user "):
		// pam_sss: "received for user NAME: 7 (Authentication failure)".
		i := strings.LastIndex(s, ": ")
		if i > len("received for user ") {
			l.user = s[len("received for user "):i]
			l.reason = strings.TrimSpace(s[i+2:])
			l.set("pam-result", "authentication", "info", format.OutcomeUnknown)
		}
	case strings.HasPrefix(s, "auth could not identify password for ["):
		l.user = strings.TrimSuffix(s[len("auth could not identify password for ["):], "]")
		l.set("no-password", "authentication", "info", format.OutcomeUnknown)
		l.reason = "no password given"
	}
}

// pamFields reads pam_unix's "logname=NAME uid=N euid=N tty=TTY
// ruser=NAME rhost=HOST  user=NAME". The account is user=; a remote
// service that does not know it yet (vsftpd, dovecot) names only ruser=.
func (l *line) pamFields(s string) {
	var user, ruser, rhost, tty string
	for s != "" {
		var f string
		f, s, _ = strings.Cut(strings.TrimLeft(s, " "), " ")
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "user":
			user = v
		case "ruser":
			ruser = v
		case "rhost":
			rhost = v
		case "tty":
			tty = v
		}
	}
	if user == "" && rhost != "" {
		user = ruser
	}
	l.user, l.host = user, rhost
	if tty == "ssh" || tty == "NODEVssh" {
		l.protocol = "ssh"
	}
}
