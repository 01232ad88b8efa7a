package syslog

import "bytes"

// Limits on RFC 3164 tokens. RFC 3164 allows a 32-byte TAG; real senders
// use longer ones, so these only stop free text from being taken for one.
const (
	maxTag      = 128
	maxPID      = 128
	maxHostname = 255
)

// rfc3164 parses "TIMESTAMP SP [HOSTNAME SP] [TAG[\[PID\]]: ]MSG" at b[i:],
// after "<PRI>". Without a recognisable timestamp everything after the PRI
// is the MSG, as RFC 3164 section 4.3.3 prescribes.
func (s *state) rfc3164(i int) {
	b, m := s.b, s.m
	m.Format = RFC3164
	dt, end, ok := scanBSDOrRFC3339(b, i)
	origin := false
	if !ok {
		if dt, end, origin, ok = s.laterDate(i); !ok {
			m.Message = b[i:]
			return
		}
	}
	if msg := dt.check(); msg != "" {
		s.setErr("rfc3164: invalid timestamp at byte %d: %s", i, msg)
	} else {
		m.Timestamp = s.p.time(&dt, s.received)
	}
	if end < len(b) {
		end++ // the space after the timestamp
	}
	if origin {
		m.Message = b[s.tag(end):]
		return
	}
	s.hostAndTag(end)
}

// laterDate looks for an RFC 3164 timestamp that is not right after the
// PRI at b[i]: after a space, or after Cisco's counter and origin, whose
// hostname it sets (origin is then true).
func (s *state) laterDate(i int) (dt dateTime, end int, origin, ok bool) {
	b := s.b
	switch {
	case i >= len(b):
	case b[i] == ' ':
		// "<13> Nov 28 10:00:00 host ...": some network gear and
		// scripts put a space after the PRI.
		dt, end, ok = scanBSDOrRFC3339(b, i+1)
	case isDigit(b[i]):
		// Cisco IOS with "logging origin-id": "52: host: *Mar  1 ...".
		if lo, hi, next := ciscoOrigin(b, i); next > i {
			if dt, end, ok = scanBSDOrRFC3339(b, next); ok {
				s.m.Hostname = s.field(lo, hi)
				origin = true
			}
		}
	}
	return dt, end, origin, ok
}

// hostAndTag parses "[HOSTNAME SP] [TAG[\[PID\]]: ]MSG" at b[i:].
//
// The first token is the hostname when it looks like a host name or an IP
// address (so not when it ends with ':' or contains '[': then it is the TAG
// and the hostname is missing, as with many local senders), also when it
// is the last token: the header may end after the hostname. Cisco devices
// that log by name glue the hostname to a colon before their mnemonic:
// "host: %SYS-5-CONFIG_I: " and "host : %SYS-5-CONFIG_I: " are a hostname
// and a TAG.
func (s *state) hostAndTag(i int) {
	b, m := s.b, s.m
	e := tokenEnd(b, i)
	if e < len(b) && isHostname(b[i:e]) {
		m.Hostname = s.field(i, e)
		i = e + 1
		if len(b)-i > 2 && b[i] == ':' && b[i+1] == ' ' && ciscoTag(b, i+2) {
			i += 2
		}
		j := s.tag(i)
		if j == i {
			j = s.bareTag(i)
		}
		m.Message = b[j:]
		return
	}
	i = s.lastOrGluedHost(i, e)
	m.Message = b[s.tag(i):]
}

// maxBareTag is RFC 3164's limit on the TAG's length, which bareTag keeps
// to (tag allows longer ones, which real senders write with a colon).
const maxBareTag = 32

// bareTag parses a TAG without a colon or [pid], "HOSTNAME TAG MSG", at
// b[i:], after a hostname, and returns the index after it and its space,
// or i when there is none.
//
// RFC 3164 ends the TAG at the first character that is not alphanumeric,
// and rsyslog takes the word after the hostname for the TAG; some senders
// write no colon after it ("host01 tag1 msgnum:3"). So that message text
// is not cut up, the word must be the TAG's shape: it starts with a
// letter, has only letters, digits and "-_./" (program names such as
// "dhclient", "postfix/smtpd"), at most 32 bytes, and is followed by one
// space and more text, not by "- " (an access log line whose client is a
// host name: "localhost - - [28/Nov/2026:...").
func (s *state) bareTag(i int) int {
	b, m := s.b, s.m
	if i >= len(b) || !isLetter(b[i]) {
		return i
	}
	j := i + 1
	for j < len(b) && j-i <= maxBareTag && (isLetter(b[j]) || isDigit(b[j]) || b[j] == '-' || b[j] == '_' || b[j] == '.' || b[j] == '/') {
		j++
	}
	if j-i > maxBareTag || j+1 >= len(b) || b[j] != ' ' || b[j+1] == ' ' ||
		b[j+1] == '-' && (j+2 == len(b) || b[j+2] == ' ') {
		return i
	}
	m.AppName = s.field(i, j)
	return j + 1
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// lastOrGluedHost is hostAndTag for a first token b[i:e] that is not a
// hostname followed by a space: it takes the token for the hostname when it
// is the last one (without a line ending that framing left, which parse
// drops from MSG) or a hostname glued to a colon before a Cisco mnemonic,
// and returns where the TAG may start.
func (s *state) lastOrGluedHost(i, e int) int {
	b, m := s.b, s.m
	if e == len(b) {
		h := e
		for h > i && (b[h-1] == '\n' || b[h-1] == '\r') {
			h--
		}
		if isHostname(b[i:h]) {
			m.Hostname = s.field(i, h)
			return h
		}
		return i
	}
	if e-i > 1 && b[e-1] == ':' && ciscoTag(b, e+1) && isHostname(b[i:e-1]) {
		m.Hostname = s.field(i, e-1)
		return e + 1
	}
	return i
}

// ciscoOrigin parses the message counter and the origin of a Cisco IOS
// message, "52: host: ", at b[i:] and returns the origin's bounds and the
// index after it, or next == i.
func ciscoOrigin(b []byte, i int) (lo, hi, next int) {
	j := i
	for j < len(b) && isDigit(b[j]) && j-i < 10 {
		j++
	}
	if j == i || j+1 >= len(b) || b[j] != ':' || b[j+1] != ' ' {
		return 0, 0, i
	}
	lo = j + 2
	e := tokenEnd(b, lo)
	if e-lo < 2 || e >= len(b) || b[e-1] != ':' || !isHostname(b[lo:e-1]) {
		return 0, 0, i
	}
	return lo, e - 1, e + 1
}

// ciscoTag reports whether b[i:] starts with a Cisco message mnemonic,
// "%FACILITY-SEVERITY-MNEMONIC:" such as "%SYS-5-CONFIG_I:",
// "%ASA-6-302013:" or "%PKT_INFRA-LINK-3-UPDOWN:".
func ciscoTag(b []byte, i int) bool {
	if i >= len(b) || b[i] != '%' {
		return false
	}
	sev := false
	for j := i + 1; j < len(b) && j-i < maxTag; j++ {
		switch c := b[j]; {
		case c == ':':
			return sev
		case c == '-':
			// "-5-" after at least one character, before at least one.
			if j > i+1 && j+3 < len(b) && b[j+1]-'0' <= 7 && b[j+2] == '-' && b[j+3] != ':' {
				sev = true
			}
		case c == '_', class[c]&cHost != 0:
		default:
			return false
		}
	}
	return false
}

// tag parses "TAG[PID]: ", "TAG: " or "TAG[PID] " at b[i:] into AppName
// and ProcID and returns the index after it, or i when there is no TAG.
// The space after the colon is optional.
func (s *state) tag(i int) int {
	b, m := s.b, s.m
	j := i
	for j < len(b) && class[b[j]]&cTag != 0 && j-i < maxTag {
		j++
	}
	if j == i || j >= len(b) {
		return i
	}
	appEnd := j
	pid, pidEnd := 0, 0
	switch b[j] {
	case '[':
		pid = j + 1
		j = pid
		for j < len(b) && class[b[j]]&cPID != 0 && j-pid < maxPID {
			j++
		}
		if j >= len(b) || b[j] != ']' {
			return i
		}
		pidEnd = j
		j++
		if j < len(b) && b[j] == ':' {
			j++
		} else if j < len(b) && b[j] != ' ' {
			return i
		}
	case ':':
		j++
	case ' ':
		return s.spacedTag(i, j)
	default:
		return i
	}
	if j < len(b) && b[j] == ' ' {
		j++
	}
	m.AppName = s.field(i, appEnd)
	m.ProcID = s.field(pid, pidEnd)
	return j
}

// spacedTag parses a TAG whose name has spaces, "Service Control
// Manager[600]: ", at b[i:], where b[j] is the space after its first word,
// and returns the index after it, or i when there is none.
//
// nxlog's to_syslog_bsd writes a Windows event's SourceName as the TAG,
// and SourceNames have spaces ("MSExchange CmdletLogs"). So that the words
// of a message without a TAG are never taken for one, such a TAG must be
// words of TAG characters separated by single spaces and end with a
// numeric "[pid]" and a colon, as nxlog writes it, all within maxTag bytes;
// or, without the "[pid]" (an event without a process ID), end with
// `: {"`, the start of nxlog's to_json payload.
func (s *state) spacedTag(i, j int) int {
	b, m := s.b, s.m
	// Most messages without a TAG have no '[' or ':' near their start.
	k := bytes.IndexAny(b[j:min(len(b), i+maxTag)], "[:")
	if k < 0 {
		return i
	}
	appEnd := j + k
	for ; j < appEnd; j++ {
		if b[j] == ' ' && (b[j-1] == ' ' || b[j+1] == '[' || b[j+1] == ':') || b[j] != ' ' && class[b[j]]&cTag == 0 {
			return i
		}
	}
	if b[j] == ':' {
		if j+3 >= len(b) || b[j+1] != ' ' || b[j+2] != '{' || b[j+3] != '"' {
			return i
		}
		m.AppName = s.view(i, appEnd)
		return j + 2
	}
	pid := j + 1
	for j = pid; j < len(b) && isDigit(b[j]) && j-pid < maxPID; j++ {
	}
	if j == pid || j+1 >= len(b) || b[j] != ']' || b[j+1] != ':' {
		return i
	}
	pidEnd := j
	j += 2
	if j < len(b) && b[j] == ' ' {
		j++
	}
	m.AppName = s.view(i, appEnd)
	m.ProcID = s.view(pid, pidEnd)
	return j
}

// isHostname reports whether tok looks like a host name, an IPv4 address
// or an IPv6 address (possibly in brackets), or is "-".
func isHostname(tok []byte) bool {
	if len(tok) == 0 || len(tok) > maxHostname {
		return false
	}
	host, colons := true, 0
	for _, c := range tok {
		if class[c]&cHost == 0 {
			host = false
			if class[c]&cIPv6 == 0 {
				return false
			}
			if c == ':' {
				colons++
			}
		}
	}
	if host {
		return true
	}
	// Only IPv6 characters. Require two colons so that "app:" or "a:b" is
	// not taken for an address, and brackets only around the whole.
	if colons < 2 {
		return false
	}
	for k, c := range tok {
		if (c == '[' && k != 0) || (c == ']' && k != len(tok)-1) {
			return false
		}
	}
	return (tok[0] == '[') == (tok[len(tok)-1] == ']')
}
