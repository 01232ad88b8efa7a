package syslog

import (
	"fmt"
	"strconv"
	"time"
)

// Format is the header format a message was recognised as.
type Format uint8

// Formats.
const (
	// Unknown means no valid syslog header (no PRI, or a malformed one) was found.
	Unknown Format = iota
	// RFC3164 is the BSD format, including its common real-world variations.
	RFC3164
	// RFC5424 is the IETF syslog format (VERSION 1).
	RFC5424
)

// String returns "unknown", "rfc3164" or "rfc5424".
func (f Format) String() string {
	switch f {
	case Unknown:
		return "unknown"
	case RFC3164:
		return "rfc3164"
	case RFC5424:
		return "rfc5424"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Message is the parsed header of one syslog message.
//
// The string fields (and the strings in StructuredData) never refer to the
// input: Parse copies the bytes they need into one new allocation, so they
// stay valid after the input buffer is reused. Message, however, is a
// sub-slice of the input and is valid only as long as the input is.
// StructuredData's backing arrays belong to the Message and are reused by the
// next Parse into the same Message.
type Message struct {
	// Format is the recognised header format.
	Format Format
	// PriorityAssumed reports that the message had no PRI and Priority is
	// DefaultPriority (see Parser.FileLines).
	PriorityAssumed bool
	// Priority is the PRI value, 0..191, or -1 when absent or malformed.
	Priority int
	// Facility is Priority/8, or -1 when Priority is absent.
	Facility int
	// Severity is Priority%8, or -1 when Priority is absent.
	Severity int
	// Timestamp is the message's own time; zero when absent or unparsable.
	Timestamp time.Time
	// Hostname is the HOSTNAME field; "" when absent or "-" (NILVALUE).
	Hostname string
	// AppName is the RFC 5424 APP-NAME or the RFC 3164 TAG without its
	// "[pid]"; "" when absent or "-".
	AppName string
	// ProcID is the RFC 5424 PROCID or the pid from an RFC 3164 "TAG[pid]";
	// "" when absent or "-".
	ProcID string
	// MsgID is the RFC 5424 MSGID; "" when absent or "-".
	MsgID string
	// StructuredData holds the RFC 5424 SD-ELEMENTs in order, with param
	// values unescaped; empty for "-" and for other formats.
	StructuredData []SDElement
	// Message is the MSG part: what follows the header, without the UTF-8
	// BOM that RFC 5424 allows in front of it. For Unknown it is the whole
	// input. After a header error that stops the parse (a missing field,
	// bad structured data) it is the unparsed rest, starting where the
	// error is. It is always a suffix of the input.
	Message []byte
	// Err describes what was malformed in the header, "" if nothing was.
	// The other fields still hold whatever could be parsed.
	Err string
}

// DefaultPriority is the priority of a line without PRI read with
// Parser.FileLines: 13, user.notice, as rsyslog assumes for such lines.
const DefaultPriority = 13

// SDElement is one RFC 5424 SD-ELEMENT.
type SDElement struct {
	// ID is the SD-ID, e.g. "timeQuality" or "meta@32473".
	ID string
	// Params are the element's parameters in order; names may repeat.
	Params []SDParam
}

// SDParam is one SD-PARAM of an SDElement.
type SDParam struct {
	// Name is the PARAM-NAME.
	Name string
	// Value is the PARAM-VALUE with the escapes \" \\ and \] resolved.
	Value string
}

var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

var severityNames = [...]string{
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
}

// FacilityName returns the conventional keyword for facility n ("kern",
// "user", "mail", ..., "local7"), or "" when n is outside 0..23.
func FacilityName(n int) string {
	if n < 0 || n >= len(facilityNames) {
		return ""
	}
	return facilityNames[n]
}

// SeverityName returns the conventional keyword for severity n ("emerg",
// "alert", "crit", "err", "warning", "notice", "info", "debug"), or "" when
// n is outside 0..7.
func SeverityName(n int) string {
	if n < 0 || n >= len(severityNames) {
		return ""
	}
	return severityNames[n]
}

// Parser parses syslog headers. The zero value is ready to use; a Parser
// is safe for concurrent use as long as its fields are not changed.
type Parser struct {
	// Location is the time zone of timestamps that carry no offset
	// (RFC 3164 dates); nil means time.Local.
	Location *time.Location
	// Now returns the current time; it is used instead of the arrival time
	// when Parse is given a zero one. Nil means time.Now.
	Now func() time.Time
	// FileLines reads a message without PRI that starts with a date (BSD
	// or RFC 3339), the shape of a line of /var/log/messages or
	// /var/log/auth.log, as an RFC 3164 message with DefaultPriority, as
	// rsyslog does, and sets Message.PriorityAssumed. It is meant for lines
	// read from log files, which never carry a PRI. Without it, and for
	// any message that does not start with a date, a message without PRI
	// is Unknown.
	FileLines bool
	// Alloc, if set, returns n bytes of memory for the copy of the input
	// that a parsed Message's strings refer to (they stay valid as long as
	// it does): a caller's arena instead of one allocation per message.
	Alloc func(n int) []byte
}

func (p *Parser) location() *time.Location {
	if p == nil || p.Location == nil {
		return time.Local
	}
	return p.Location
}

// alloc returns n bytes for a message's strings.
func (p *Parser) alloc(n int) []byte {
	if p == nil || p.Alloc == nil {
		return make([]byte, n)
	}
	return p.Alloc(n)[:n]
}

func (p *Parser) now() time.Time {
	if p == nil || p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Parse parses the header of the single syslog message b (transport framing
// already removed) into m, which it resets first. received is the time the
// message arrived; it decides the year of dates that have none.
//
// Parse never fails: a malformed header is described in m.Err and the rest
// of the input is kept in m.Message. It does not modify b and keeps no
// reference to it except m.Message. See Message for the lifetime rules.
func (p *Parser) Parse(b []byte, received time.Time, m *Message) {
	*m = Message{
		Priority:       -1,
		Facility:       -1,
		Severity:       -1,
		StructuredData: m.StructuredData[:0],
	}
	s := state{p: p, m: m, b: b, received: received, lo: len(b)}
	s.parse()
	s.detach()
}

// state is one Parse call in progress.
type state struct {
	p        *Parser
	m        *Message
	b        []byte
	received time.Time
	// lo and hi bound the part of b that the string views made by view
	// refer to; detach copies exactly that part.
	lo, hi int
}

func (s *state) parse() {
	b, m := s.b, s.m
	next, pri, err := parsePRI(b)
	if pri < 0 {
		dt, _, ok := scanBSDOrRFC3339(b, next)
		if ok && err == "" && s.p != nil && s.p.FileLines {
			// A log file's line: a syslog header without its PRI.
			m.Priority, m.Facility, m.Severity = DefaultPriority, DefaultPriority>>3, DefaultPriority&7
			m.PriorityAssumed = true
			s.rfc3164(0)
			return
		}
		// No PRI or a malformed one: the input is plain text, but a
		// leading date is still worth having.
		m.Err = err
		m.Format = Unknown
		m.Message = b
		if ok && dt.check() == "" {
			m.Timestamp = s.p.time(&dt, s.received)
		}
		return
	}
	m.Priority, m.Facility, m.Severity = pri, pri>>3, pri&7
	if len(b)-next >= 3 && b[next] == '1' && b[next+1] == ' ' && (b[next+2] == '-' || isDigit(b[next+2])) {
		s.rfc5424(next + 2)
		return
	}
	if next < len(b) && isDigit(b[next]) {
		if v := otherVersion(b, next); v > next {
			// "<13>2 2026-11-28T10:00:00Z ...": RFC 5424 defines only
			// VERSION 1, and the fields of another version cannot be
			// trusted.
			m.Format = RFC5424
			s.setErr("rfc5424: unsupported VERSION %s at byte %d: only 1 is defined", b[next:v], next)
			m.Message = b[next:]
			return
		}
	}
	s.rfc3164(next)
}

// otherVersion returns the index after a VERSION other than "1" at b[i:],
// where b[i] is a digit, or i: one to three digits followed by a space and
// what starts an RFC 5424 TIMESTAMP (a NILVALUE or "YYYY-"), so that BSD
// text such as "2 apples" is not taken for one.
func otherVersion(b []byte, i int) int {
	j := i + 1
	if j < len(b) && isDigit(b[j]) {
		j++
		if j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j >= len(b) || b[j] != ' ' || j == i+1 && b[i] == '1' {
		return i
	}
	t := b[j+1:]
	switch {
	case len(t) >= 1 && t[0] == '-' && (len(t) == 1 || t[1] == ' '):
	case len(t) >= 5 && isDigit(t[0]) && isDigit(t[1]) && isDigit(t[2]) && isDigit(t[3]) && t[4] == '-':
	default:
		return i
	}
	return j
}

// parsePRI parses "<PRI>" at the start of b. It returns the index after it
// and the value, or pri -1 and, when b starts with '<' but no valid PRI,
// an error and the index after the closing '>' if there is one nearby.
func parsePRI(b []byte) (next, pri int, err string) {
	if len(b) == 0 || b[0] != '<' {
		return 0, -1, ""
	}
	j := 1
	for j < len(b) && j <= 10 && isDigit(b[j]) {
		j++
	}
	switch {
	case j == len(b):
		return 0, -1, fmt.Sprintf("pri: missing '>' at byte %d", j)
	case b[j] != '>':
		// Resume after a '>' close by ("<abc>..."), else at the start.
		for k := j + 1; k < len(b) && k <= 8; k++ {
			if b[k] == '>' {
				next = k + 1
				break
			}
		}
		if isDigit(b[j]) {
			return next, -1, fmt.Sprintf("pri: value %s... out of range 0..191", b[1:j])
		}
		return next, -1, fmt.Sprintf("pri: invalid character %s at byte %d", quoteByte(b[j]), j)
	case j == 1:
		return 2, -1, "pri: empty value \"<>\""
	}
	v := 0
	for _, c := range b[1:j] {
		v = v*10 + int(c-'0')
	}
	if j > 4 || v > 191 {
		return j + 1, -1, fmt.Sprintf("pri: value %s out of range 0..191", b[1:j])
	}
	return j + 1, v, ""
}

// quoteByte formats c for an error message.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

// setErr records the first header error.
func (s *state) setErr(format string, args ...any) {
	if s.m.Err == "" {
		s.m.Err = fmt.Sprintf(format, args...)
	}
}

func isDigit(c byte) bool { return c-'0' <= 9 }

// tokenEnd returns the index of the first space at or after i, or len(b).
func tokenEnd(b []byte, i int) int {
	for i < len(b) && b[i] != ' ' {
		i++
	}
	return i
}

// Character classes.
const (
	cHost   = 1 << iota // hostname: letters, digits, '.', '-', '_'
	cIPv6               // IPv6 literal: hex digits, ':', '.', '%', '[', ']'
	cTag                // RFC 3164 TAG
	cPID                // pid inside "TAG[...]"
	cSDName             // SD-ID and PARAM-NAME
)

// class holds the classes of each byte. It is built once and never changed.
var class = func() (t [256]uint8) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] |= cPID | cSDName | cTag
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] |= cHost
		}
		switch {
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c >= '0' && c <= '9':
			t[c] |= cIPv6
		}
	}
	for _, c := range []byte(".-_") {
		t[c] |= cHost
	}
	for _, c := range []byte(":.%[]") {
		t[c] |= cIPv6
	}
	for _, c := range []byte("=]\"") {
		t[c] &^= cSDName
	}
	t[']'] &^= cPID
	t['['] &^= cPID
	for _, c := range []byte(":[]\"'{}=,;<>\\`") {
		t[c] &^= cTag
	}
	return t
}()
