// Package exchange parses the logs of an on-premises Microsoft Exchange
// server: the IMAP4 and POP3 protocol logs (Protocol), the message tracking
// log (MessageTracking), and the administrator audit trail, either as the
// "MSExchange Management" event log shipped as JSON by NXLog
// (AdminAuditJSON) or as a CSV export of Search-AdminAuditLog
// (AdminAuditExport).
//
// Exchange writes its text logs as CSV files that start with "#Software",
// "#Version", "#Log-type", "#Date" and "#Fields" lines. A shipper that sends
// such a file line by line sends those header lines too: the formats here
// keep the column order of the last "#Fields" line in the Source's state and
// return format.ErrSkip for header lines. Without a header the documented
// column order is used.
package exchange

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Field names this package sets beyond those in package format. They follow
// ECS where ECS has a name.
const (
	fieldSourceDomain       = "source.domain"   // ECS: the client's host name
	fieldNetworkBytes       = "network.bytes"   // ECS: message size
	fieldEmailLocalID       = "email.local_id"  // ECS: Exchange's network-message-id
	fieldExchangeSource     = "exchange.source" // message tracking source: SMTP, STOREDRIVER, AGENT, ...
	fieldDirectionality     = "exchange.directionality"
	fieldOriginalClientIP   = "exchange.original_client_ip"
	fieldExchangeClientApp  = "exchange.client_application" // admin audit: EMS, ECP, ... (from EventXML)
	fieldExchangeRecipients = "exchange.recipient_count"
)

// maxFields bounds the columns read from one CSV line.
const maxFields = 64

var (
	errUnterminated  = errors.New("unterminated quoted field (a value that spans lines?)")
	errTooManyFields = errors.New("more than 64 fields")
)

// csvField is one field of a CSV line: its bytes as they are in the line,
// without the surrounding quotes. esc is set when the field was quoted and
// holds doubled quotes, which value undoes.
type csvField struct {
	b   []byte
	esc bool
}

// value returns the field's content, undoing doubled quotes (which copies).
func (f csvField) value() []byte {
	if !f.esc {
		return f.b
	}
	return bytes.ReplaceAll(f.b, []byte(`""`), []byte(`"`))
}

// splitCSV splits one CSV line into dst and returns the number of fields.
// Fields are separated by commas; a field that starts with a double quote
// runs to the matching quote, and "" inside it stands for one quote.
// Anything between a closing quote and the next comma is kept (leniently)
// by ending the field there.
func splitCSV(line []byte, dst *[maxFields]csvField) (int, error) {
	n := 0
	for {
		if n == maxFields {
			return n, errTooManyFields
		}
		if len(line) > 0 && line[0] == '"' {
			i, esc := 1, false
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return n, errUnterminated
				}
				i += j
				if i+1 < len(line) && line[i+1] == '"' {
					esc = true
					i += 2
					continue
				}
				break
			}
			dst[n] = csvField{b: line[1:i], esc: esc}
			n++
			k := bytes.IndexByte(line[i+1:], ',')
			if k < 0 {
				return n, nil
			}
			line = line[i+1+k+1:]
			continue
		}
		k := bytes.IndexByte(line, ',')
		if k < 0 {
			dst[n] = csvField{b: line}
			return n + 1, nil
		}
		dst[n] = csvField{b: line[:k]}
		n++
		line = line[k+1:]
	}
}

// trimLine removes a trailing CR and surrounding blanks.
func trimLine(b []byte) []byte {
	return bytes.TrimSpace(b)
}

// normName normalizes a column name for matching: lowercase, without '-',
// '_' and spaces, so that "date-time", "DateTime" and "dateTime" match.
func normName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == '_' || c == ' ' || c == '"' || c == '\t':
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// headerNames splits the column list of a "#Fields:" line (or of a CSV
// header line) into normalized names.
func headerNames(list []byte) ([]string, error) {
	var fs [maxFields]csvField
	n, err := splitCSV(trimLine(list), &fs)
	if err != nil {
		return nil, err
	}
	names := make([]string, n)
	for i := range n {
		names[i] = normName(string(fs[i].value()))
	}
	return names, nil
}

// isTimestampStart reports whether b starts like "2024-01-24T15:30:19".
func isTimestampStart(b []byte) bool {
	if len(b) < 19 {
		return false
	}
	for i, c := range b[:19] {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' && c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// parseISOTime parses the timestamps Exchange writes in its logs,
// "2024-01-24T15:30:19.847Z", also with a numeric offset or a space for the
// T, and without a zone (then in loc). It does not allocate.
func parseISOTime(b []byte, loc *time.Location) (time.Time, bool) {
	if !isTimestampStart(b) {
		return time.Time{}, false
	}
	num := func(s []byte) int {
		v := 0
		for _, c := range s {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(b[0:4]), num(b[5:7]), num(b[8:10])
	hour, minute, sec := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i, scale := 1, 100000000
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	if loc == nil {
		loc = time.UTC
	}
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		loc = time.UTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && isDigits(rest[1:3]) && isDigits(rest[4:6]):
		off := (num(rest[1:3])*60 + num(rest[4:6])) * 60
		if rest[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), true
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// atoi parses a small non-negative decimal number; -1 when b is not one.
func atoi(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// splitEndpoint splits "10.0.0.1:993", "[2001:db8::1]:993" or
// "2001:db8::1:993" into address and port (-1 when absent).
func splitEndpoint(b []byte) (ip []byte, port int) {
	ip, p := splitEndpointBytes(b)
	return ip, atoi(p)
}

// splitEndpointBytes is splitEndpoint with the port's digits.
func splitEndpointBytes(b []byte) (ip, port []byte) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return nil, nil
		}
		ip = b[1:end]
		if rest := b[end+1:]; len(rest) > 1 && rest[0] == ':' {
			return ip, rest[1:]
		}
		return ip, nil
	}
	i := bytes.LastIndexByte(b, ':')
	if i < 0 {
		return b, nil
	}
	if p := atoi(b[i+1:]); p >= 0 && p <= 65535 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// isAddress reports whether b looks like an IPv4 or IPv6 address (cheaply:
// the right characters, at least one '.' or ':').
func isAddress(b []byte) bool {
	if len(b) == 0 || len(b) > 45 {
		return false
	}
	sep := false
	for _, c := range b {
		switch {
		case c == '.' || c == ':':
			sep = true
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '%':
		default:
			return false
		}
	}
	return sep
}

// addEndpoint adds the ip and port of an endpoint under the given names
// and returns the port (-1 when there is none).
func addEndpoint(ev *format.Event, ipName, portName string, b []byte) (port int) {
	ip, p := splitEndpointBytes(b)
	if !isAddress(ip) {
		return -1
	}
	ev.AddBytes(ipName, ip)
	port = atoi(p)
	if port < 0 || port > 65535 {
		return -1
	}
	if p = bytes.TrimLeft(p, "0"); len(p) == 0 {
		ev.Add(portName, "0")
	} else {
		ev.AddBytes(portName, p)
	}
	return port
}

// setUser sets the user fields from a user name as Exchange wrote it. It
// understands, besides what format.Users does, the forms that name a
// mailbox other than the account's own: `DOMAIN\user\mailbox` and
// `user@domain\mailbox@domain` (user.target.name is the mailbox), and an
// Active Directory canonical name, `corp.example/Users/Admin` (the admin
// audit log's caller).
func setUser(ev *format.Event, src *format.Source, raw string) {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "-" {
		return
	}
	account, mailbox := raw, ""
	if i := strings.LastIndexByte(raw, '\\'); i > 0 {
		if strings.IndexByte(raw[:i], '\\') >= 0 || strings.IndexByte(raw[:i], '@') >= 0 {
			account, mailbox = raw[:i], raw[i+1:]
		}
	} else if i := strings.IndexByte(raw, '/'); i > 0 && strings.IndexByte(raw, '@') < 0 {
		// Canonical name: the domain, then the path to the object; the
		// last part is the object's common name.
		account = raw[:i] + `\` + raw[strings.LastIndexByte(raw, '/')+1:]
	}
	name, domain := src.Users.Normalize(account)
	ev.Add(format.FieldUserName, name)
	ev.Add(format.FieldUserDomain, domain)
	ev.Add(format.FieldUserOriginal, raw)
	if mailbox != "" {
		target, _ := src.Users.Normalize(mailbox)
		ev.Add(format.FieldUserTarget, target)
	}
}

// hasPrefixFold reports whether b starts with the ASCII prefix p, ignoring
// case.
func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && strings.EqualFold(string(b[:len(p)]), p)
}

// headerLine reports what kind of "#" line b is: its directive ("fields",
// "software", "log-type", "version", "date" or another word, lowercase) and
// the text after the colon.
func headerLine(b []byte) (directive string, value []byte) {
	if len(b) == 0 || b[0] != '#' {
		return "", nil
	}
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return "", nil
	}
	switch d := bytes.TrimSpace(b[1:i]); {
	case bytes.EqualFold(d, []byte("fields")):
		directive = "fields"
	case bytes.EqualFold(d, []byte("software")):
		directive = "software"
	case bytes.EqualFold(d, []byte("log-type")):
		directive = "log-type"
	case bytes.EqualFold(d, []byte("version")):
		directive = "version"
	case bytes.EqualFold(d, []byte("date")):
		directive = "date"
	default:
		directive = "other"
	}
	return directive, bytes.TrimSpace(b[i+1:])
}

// isExchangeSoftware reports whether a "#Software:" value is Exchange's.
func isExchangeSoftware(v []byte) bool {
	return hasPrefixFold(v, "Microsoft Exchange")
}

// hasPrefixFoldString reports whether s starts with p, ignoring ASCII case.
func hasPrefixFoldString(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// containsFold reports whether s contains sub, ignoring ASCII case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
