package authlog

import (
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// sshd reads one of sshd's messages into l (or a PAM module's message,
// which sshd's PAM stack writes under sshd's tag). It returns false for an
// empty message. l.action stays empty for messages that are not about a
// client (startup, configuration).
func (l *line) sshd(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	// rsyslog's "message repeated N times: [ msg]": the message, once.
	if rest, ok := strings.CutPrefix(s, "message repeated "); ok {
		if i := strings.Index(rest, " times: [ "); i > 0 && isDigits(rest[:i]) && strings.HasSuffix(rest, "]") {
			s = strings.TrimSpace(rest[i+len(" times: [ ") : len(rest)-1])
		}
	}
	if module, service, _, rest, ok := pamPrefix(s); ok {
		l.pamText(module, service, rest)
		return true
	}
	l.dataset = DatasetSSHD
	l.service = "sshd"
	s, preauth := strings.CutSuffix(s, " [preauth]")
	l.preauth = preauth
	if !preauth {
		s, _ = strings.CutSuffix(s, " [net]")
	}
	for _, p := range []string{"error: ", "fatal: ", "debug1: "} {
		if r, ok := strings.CutPrefix(s, p); ok {
			s = r
			break
		}
	}
	l.protocol = "ssh"
	switch {
	case strings.HasPrefix(s, "Accepted "), strings.HasPrefix(s, "Failed "), strings.HasPrefix(s, "Postponed "):
		l.attempt(s)
	case strings.HasPrefix(s, "Invalid user "):
		// "Invalid user NAME from HOST[ port N]": the name does not exist;
		// the attempts that follow are logged as "Failed ... for invalid
		// user", and those count.
		user, host, port, ok := userFrom(s[len("Invalid user "):])
		if ok {
			l.user, l.host, l.port = user, host, port
			l.set("invalid-user", "authentication", "info", format.OutcomeUnknown)
			l.reason = "no such user"
		}
	case strings.HasPrefix(s, "input_userauth_request: invalid user "):
		l.user = s[len("input_userauth_request: invalid user "):]
		l.set("invalid-user", "authentication", "info", format.OutcomeUnknown)
		l.reason = "no such user"
	case strings.HasPrefix(s, "maximum authentication attempts exceeded for "):
		// Written after the last failed attempt, which was logged itself.
		rest := s[len("maximum authentication attempts exceeded for "):]
		rest = strings.TrimPrefix(rest, "invalid user ")
		user, host, port, ok := userFrom(trimProto(rest))
		if ok {
			l.user, l.host, l.port = user, host, port
			l.set("too-many-failures", "authentication", "info", format.OutcomeUnknown)
			l.reason = "maximum authentication attempts exceeded"
		}
	case strings.HasPrefix(s, "Disconnecting: Too many authentication failures"):
		l.user = strings.TrimPrefix(s[len("Disconnecting: Too many authentication failures"):], " for ")
		l.set("too-many-failures", "authentication", "info", format.OutcomeUnknown)
		l.reason = "too many authentication failures"
	case strings.HasPrefix(s, "Disconnecting "):
		// "Disconnecting invalid user NAME HOST port N: Too many
		// authentication failures", "Disconnecting authenticating user ...".
		who, why, _ := strings.Cut(s[len("Disconnecting "):], ": ")
		if l.peer(who) {
			l.reason = why
			if strings.Contains(why, "authentication failures") {
				l.set("too-many-failures", "authentication", "info", format.OutcomeUnknown)
			} else {
				l.set("disconnected", "network", "end", "")
			}
		}
	case strings.HasPrefix(s, "Connection closed by "), strings.HasPrefix(s, "Connection reset by "):
		_, rest, _ := strings.Cut(s, " by ")
		if l.peer(rest) {
			l.set("connection-closed", "network", "end", "")
			if preauth {
				l.reason = "closed before authentication"
			}
		}
	case strings.HasPrefix(s, "Disconnected from "):
		rest := s[len("Disconnected from "):]
		session := strings.HasPrefix(rest, "user ") && !preauth
		if l.peer(rest) {
			if session {
				l.set("logged-out", "session", "end", "")
			} else {
				l.set("disconnected", "network", "end", "")
			}
		}
	case strings.HasPrefix(s, "Received disconnect from "):
		// "HOST port N:11: reason", older "HOST: 11: reason".
		rest := s[len("Received disconnect from "):]
		who, why, _ := strings.Cut(rest, ":")
		if host, port, ok := hostPort(who); ok {
			l.host, l.port = host, port
			l.set("disconnected", "network", "end", "")
			if i := strings.IndexByte(why, ':'); i >= 0 && isDigits(strings.TrimSpace(why[:i])) {
				why = why[i+1:]
			}
			l.reason = strings.TrimSpace(why)
		}
	case strings.HasPrefix(s, "Did not receive identification string from "):
		l.conn(s[len("Did not receive identification string from "):], "no-identification", "end",
			"no SSH identification string (a port scan)")
	case strings.HasPrefix(s, "Connection from "):
		// "Connection from HOST port N on HOST port N[ rdomain "..."]" (LogLevel VERBOSE).
		rest, _, _ := strings.Cut(s[len("Connection from "):], " on ")
		l.conn(rest, "connected", "start", "")
	case strings.HasPrefix(s, "Timeout before authentication for "):
		l.conn(s[len("Timeout before authentication for "):], "timeout", "end", "timeout before authentication")
	case strings.HasPrefix(s, "Unable to negotiate with "):
		who, why, _ := strings.Cut(s[len("Unable to negotiate with "):], ": ")
		l.conn(who, "negotiation-failed", "end", why)
	case strings.HasPrefix(s, "banner exchange: Connection from "):
		who, why, _ := strings.Cut(s[len("banner exchange: Connection from "):], ": ")
		l.conn(who, "negotiation-failed", "end", why)
	case strings.HasPrefix(s, "reverse mapping checking getaddrinfo for "):
		// "... for NAME [ADDR] failed - POSSIBLE BREAK-IN ATTEMPT!"
		rest := s[len("reverse mapping checking getaddrinfo for "):]
		if i, j := strings.IndexByte(rest, '['), strings.IndexByte(rest, ']'); i > 0 && j > i {
			l.host = rest[i+1 : j]
			l.set("reverse-mapping-failed", "network", "info", "")
			l.reason = "the address's name does not map back to it"
		}
	case strings.HasPrefix(s, "PAM ") && strings.Contains(s, " more authentication failure"):
		// "PAM N more authentication failures; logname= ... rhost=HOST  user=NAME":
		// a summary of failures already logged one by one.
		what, kvs, _ := strings.Cut(s[len("PAM "):], ";")
		l.pamFields(kvs)
		l.set("pam-more-failures", "authentication", "info", format.OutcomeUnknown)
		l.reason = strings.TrimSpace(what)
		l.module = "pam_unix"
	case strings.HasPrefix(s, "PAM: "):
		// "error: PAM: Authentication failure for [illegal user ]NAME from
		// HOST": PAM's answer to an attempt that sshd logs as Failed.
		rest := s[len("PAM: "):]
		why, who, ok := strings.Cut(rest, " for ")
		if ok {
			who = strings.TrimPrefix(who, "illegal user ")
			if user, host, port, ok := userFrom(who); ok {
				l.user, l.host, l.port = user, host, port
				l.set("pam-authentication-failure", "authentication", "info", format.OutcomeUnknown)
				l.reason = why
			}
		}
	case strings.HasPrefix(s, "User ") && strings.Contains(s, " not allowed because "):
		// "User NAME from HOST not allowed because not listed in AllowUsers".
		who, why, _ := strings.Cut(s[len("User "):], " not allowed because ")
		if user, host, port, ok := userFrom(who); ok {
			l.user, l.host, l.port = user, host, port
			l.set("not-allowed", "authentication", "info", format.OutcomeUnknown)
			l.reason = "not allowed because " + why
		}
	}
	return true
}

// attempt reads "Accepted|Failed|Postponed METHOD for [invalid user ]NAME
// from HOST port N ssh2[: KEYTYPE FINGERPRINT]".
func (l *line) attempt(s string) {
	verb, rest, _ := strings.Cut(s, " ")
	method, rest, ok := strings.Cut(rest, " for ")
	if !ok || method == "" || strings.IndexByte(method, ' ') >= 0 {
		return
	}
	// The name is what the client sent (it may hold ": " or " from "):
	// the last " from " ends it, and the key follows the protocol.
	i := strings.LastIndex(rest, " from ")
	if i < 0 {
		return
	}
	key := ""
	if j := strings.Index(rest[i:], ": "); j >= 0 {
		rest, key = rest[:i+j], rest[i+j+2:]
	}
	invalid := false
	if r, ok := strings.CutPrefix(rest, "invalid user "); ok {
		rest, invalid = r, true
	}
	user, host, port, ok := userFrom(trimProto(rest))
	if !ok {
		return
	}
	l.user, l.host, l.port, l.method, l.key = user, host, port, method, key
	switch verb {
	case "Accepted":
		l.set("logged-in", "authentication", "start", "success")
	case "Postponed":
		l.set("postponed", "authentication", "info", format.OutcomeUnknown)
	default:
		switch {
		case method == "none":
			// The client asking which methods it may use: no credential.
			l.set("method-refused", "authentication", "info", format.OutcomeUnknown)
			l.reason = "no credentials (method none)"
		case method == "publickey" || method == "hostbased":
			// A key the account does not accept: clients offer each key
			// they hold, so refused keys are not guessing.
			l.set("method-refused", "authentication", "info", format.OutcomeUnknown)
			l.reason = "key not accepted"
		default:
			l.set("logon-failed", "authentication", "start", "failure")
			l.reason = "bad password"
			if method != "password" {
				l.reason = "authentication failed (" + method + ")"
			}
		}
		if invalid {
			l.reason = "no such user"
		}
	}
}

// conn sets l to a network event of the client "HOST[ port N]" in who.
func (l *line) conn(who, action, typ, reason string) {
	if host, port, ok := hostPort(who); ok {
		l.host, l.port = host, port
		l.set(action, "network", typ, "")
		l.reason = reason
	}
}

// trimProto removes sshd's " ssh2" (or " ssh1") after the port.
func trimProto(s string) string {
	if i := strings.LastIndexByte(s, ' '); i > 0 && (s[i+1:] == "ssh2" || s[i+1:] == "ssh1") {
		return s[:i]
	}
	return s
}

// userFrom reads "NAME from HOST[ port N]". NAME is what the client sent
// and may hold spaces, so the last " from " separates it.
func userFrom(s string) (user, host, port string, ok bool) {
	i := strings.LastIndex(s, " from ")
	if i < 0 {
		return "", "", "", false
	}
	host, port, ok = hostPort(s[i+len(" from "):])
	return s[:i], host, port, ok
}

// hostPort reads "HOST port N" or "HOST".
func hostPort(s string) (host, port string, ok bool) {
	s = strings.TrimSpace(s)
	if h, p, found := strings.Cut(s, " port "); found {
		s, port = h, p
		if !isPort(port) {
			return "", "", false
		}
	}
	return s, port, hostLike(s)
}

// peer reads "[invalid user |authenticating user |user ]NAME HOST port N",
// or "HOST port N", or "HOST".
func (l *line) peer(s string) bool {
	s = strings.TrimSpace(s)
	rest, port, hasPort := strings.Cut(s, " port ")
	if hasPort {
		if !isPort(port) {
			return false
		}
	}
	who, host := "", rest
	if i := strings.LastIndexByte(rest, ' '); i >= 0 {
		who, host = rest[:i], rest[i+1:]
	}
	if !hostLike(host) {
		return false
	}
	switch {
	case who == "":
	case strings.HasPrefix(who, "invalid user"):
		l.user = strings.TrimPrefix(strings.TrimPrefix(who, "invalid user"), " ")
	case strings.HasPrefix(who, "authenticating user "):
		l.user = who[len("authenticating user "):]
	case strings.HasPrefix(who, "user "):
		l.user = who[len("user "):]
	default:
		return false
	}
	l.host, l.port = host, port
	return true
}
