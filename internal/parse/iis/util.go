package iis

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// line returns msg without a UTF-8 byte order mark and surrounding blanks.
func line(msg []byte) []byte {
	if len(msg) >= 3 && msg[0] == 0xEF && msg[1] == 0xBB && msg[2] == 0xBF {
		msg = msg[3:]
	}
	for len(msg) > 0 && isBlank(msg[0]) {
		msg = msg[1:]
	}
	for len(msg) > 0 && isBlank(msg[len(msg)-1]) {
		msg = msg[:len(msg)-1]
	}
	return msg
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// transient returns b as a string without copying. The string must not
// outlive the call that b is valid in: use it only for look-ups and
// parsing, never store it.
func transient(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// cp copies b into memory that lives as long as ev.
func cp(ev *format.Event, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if ev.Copy != nil {
		return ev.Copy(b)
	}
	return string(b)
}

// dash reports whether b is a W3C empty value.
func dash(b []byte) bool { return len(b) == 0 || len(b) == 1 && b[0] == '-' }

// digits reports whether b is 1 to max ASCII digits.
func digits(b []byte, max int) bool {
	if len(b) == 0 || len(b) > max {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// atoi parses up to 18 digits; ok is false for anything else.
func atoi(b []byte) (n int64, ok bool) {
	if !digits(b, 18) {
		return 0, false
	}
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// num2 parses two digits at b[i:].
func num2(b []byte, i int) int {
	c, d := b[i], b[i+1]
	if c < '0' || c > '9' || d < '0' || d > '9' {
		return -1
	}
	return int(c-'0')*10 + int(d-'0')
}

// isDate reports whether b is YYYY-MM-DD.
func isDate(b []byte) bool {
	return len(b) == 10 && b[4] == '-' && b[7] == '-' && digits(b[:4], 4) && num2(b, 5) >= 0 && num2(b, 8) >= 0
}

// isClock reports whether b is HH:MM:SS, optionally with a fraction.
func isClock(b []byte) bool {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' || num2(b, 0) < 0 || num2(b, 3) < 0 || num2(b, 6) < 0 {
		return false
	}
	return len(b) == 8 || b[8] == '.' && digits(b[9:], 9)
}

// civil builds a time from a YYYY-MM-DD date and an HH:MM:SS[.fff] clock
// (both checked by isDate and isClock) in loc, rejecting impossible dates.
func civil(date, clock []byte, loc *time.Location) (time.Time, bool) {
	y := int(date[0]-'0')*1000 + int(date[1]-'0')*100 + int(date[2]-'0')*10 + int(date[3]-'0')
	mo, d := num2(date, 5), num2(date, 8)
	h, mi, s := num2(clock, 0), num2(clock, 3), num2(clock, 6)
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	ns := 0
	if len(clock) > 9 {
		frac := clock[9:]
		for i := 0; i < 9; i++ {
			ns *= 10
			if i < len(frac) {
				ns += int(frac[i] - '0')
			}
		}
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, ns, loc)
	if t.Day() != d && s != 60 {
		return time.Time{}, false // 31 April, 29 February of a common year
	}
	return t, true
}

// addDuration adds event.duration (nanoseconds) from milliseconds, using
// buf as scratch.
func addDuration(ev *format.Event, ms []byte, buf *[]byte) {
	n, ok := atoi(ms)
	if !ok || n > (1<<62)/1_000_000 {
		return
	}
	*buf = strconv.AppendInt((*buf)[:0], n*1_000_000, 10)
	ev.AddBytes(format.FieldDuration, *buf)
}

// addNumber adds a field whose value must be a decimal number; anything
// else is not stored.
func addNumber(ev *format.Event, name string, b []byte) {
	if digits(b, 20) {
		ev.AddBytes(name, b)
	}
}

// setField gives the field name, added to ev at or after index from, the
// value v ("" removes it), or adds it when it is not there.
func setField(ev *format.Event, from int, name, v string) {
	for i := from; i < len(ev.Fields); i++ {
		if ev.Fields[i].Name != name {
			continue
		}
		if v == "" || v == "-" {
			ev.Fields = append(ev.Fields[:i], ev.Fields[i+1:]...)
		} else {
			ev.Fields[i].Value = v
		}
		return
	}
	ev.Add(name, v)
}

// getField returns the value of the field name added at or after from.
func getField(ev *format.Event, from int, name string) string {
	for i := len(ev.Fields) - 1; i >= from; i-- {
		if ev.Fields[i].Name == name {
			return ev.Fields[i].Value
		}
	}
	return ""
}

// validUTF8 replaces invalid UTF-8 in the values of the fields added to ev
// at or after from. format.AddHTTP percent-decodes the ActiveSync query
// (User=%80 gives a lone byte 0x80), so a valid line can yield invalid
// values.
func validUTF8(ev *format.Event, from int) {
	for i := from; i < len(ev.Fields); i++ {
		if v := ev.Fields[i].Value; !utf8.ValidString(v) {
			ev.Fields[i].Value = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
}
