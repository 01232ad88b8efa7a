package syslog

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
	if !ok {
		m.Message = b[i:]
		return
	}
	if msg := dt.check(); msg != "" {
		s.setErr("rfc3164: invalid timestamp at byte %d: %s", i, msg)
	} else {
		m.Timestamp = s.p.time(&dt, s.received)
	}
	if end < len(b) {
		end++ // the space after the timestamp
	}
	s.hostAndTag(end)
}

// hostAndTag parses "[HOSTNAME SP] [TAG[\[PID\]]: ]MSG" at b[i:].
//
// The first token is the hostname unless it ends with ':' or contains '['
// (then it is the TAG and the hostname is missing, as with many local
// senders), or does not look like a host name or IP address at all, or
// is the last token (then it is the MSG).
func (s *state) hostAndTag(i int) {
	b, m := s.b, s.m
	e := tokenEnd(b, i)
	if e < len(b) && isHostname(b[i:e]) {
		m.Hostname = s.field(i, e)
		i = e + 1
	}
	m.Message = b[s.tag(i):]
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
