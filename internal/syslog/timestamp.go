package syslog

import "time"

// dateTime is a timestamp as written, before it becomes a time.Time.
type dateTime struct {
	year, month, day   int
	hour, min, sec     int
	nsec               int
	zone               int // seconds east of UTC, when hasZone
	hasYear, hasZone   bool
	zoneHour, zoneMins int // as written, for range checks
}

// check returns "" when dt's fields are in range, else what is not.
func (dt *dateTime) check() string {
	switch {
	case dt.month < 1 || dt.month > 12:
		return "month out of range"
	case dt.day < 1 || dt.day > daysIn(dt.month, dt.year, dt.hasYear):
		return "day out of range"
	case dt.hour > 23:
		return "hour out of range"
	case dt.min > 59:
		return "minute out of range"
	case dt.sec > 60: // 60 is a leap second
		return "second out of range"
	case dt.hasZone && (dt.zoneHour > 23 || dt.zoneMins > 59):
		return "UTC offset out of range"
	}
	return ""
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// daysIn returns the length of month in year; without a year February
// has 29 days.
func daysIn(month, year int, hasYear bool) int {
	switch month {
	case 2:
		if hasYear && !isLeap(year) {
			return 28
		}
		return 29
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// digits2 parses the two decimal digits at b[i:].
func digits2(b []byte, i int) (int, bool) {
	if i+2 > len(b) {
		return 0, false
	}
	c0, c1 := b[i]-'0', b[i+1]-'0'
	if c0 > 9 || c1 > 9 {
		return 0, false
	}
	return int(c0)*10 + int(c1), true
}

// hhmmss parses "hh:mm:ss" at b[i:].
func hhmmss(b []byte, i int, dt *dateTime) bool {
	if i+8 > len(b) || b[i+2] != ':' || b[i+5] != ':' {
		return false
	}
	var ok1, ok2, ok3 bool
	dt.hour, ok1 = digits2(b, i)
	dt.min, ok2 = digits2(b, i+3)
	dt.sec, ok3 = digits2(b, i+6)
	return ok1 && ok2 && ok3
}

// fraction parses an optional ".digits" at b[i:] into dt.nsec and returns
// the index after it. Digits beyond nanoseconds are skipped.
func fraction(b []byte, i int, dt *dateTime) (int, bool) {
	if i >= len(b) || b[i] != '.' {
		return i, true
	}
	i++
	start, scale := i, 100000000
	for i < len(b) && isDigit(b[i]) {
		dt.nsec += int(b[i]-'0') * scale
		scale /= 10
		i++
	}
	return i, i > start
}

// parseRFC3339 parses "YYYY-MM-DDThh:mm:ss[.frac][Z|+hh:mm|-hh:mm]" at
// b[i:] and returns the index after it. ok reports whether the shape
// matched; the field ranges are left to dateTime.check. The offset is
// optional (then the time is local) and may lack its colon.
func parseRFC3339(b []byte, i int) (dt dateTime, end int, ok bool) {
	if i+19 > len(b) || b[i+4] != '-' || b[i+7] != '-' || (b[i+10] != 'T' && b[i+10] != 't') {
		return dt, i, false
	}
	y1, ok1 := digits2(b, i)
	y2, ok2 := digits2(b, i+2)
	mo, ok3 := digits2(b, i+5)
	d, ok4 := digits2(b, i+8)
	if !(ok1 && ok2 && ok3 && ok4 && hhmmss(b, i+11, &dt)) {
		return dt, i, false
	}
	dt.year, dt.month, dt.day, dt.hasYear = y1*100+y2, mo, d, true
	j, ok := fraction(b, i+19, &dt)
	if !ok {
		return dt, i, false
	}
	if j < len(b) {
		switch b[j] {
		case 'Z', 'z':
			dt.hasZone = true
			j++
		case '+', '-':
			h, okh := digits2(b, j+1)
			k := j + 3
			if k < len(b) && b[k] == ':' {
				k++
			}
			mi, okm := digits2(b, k)
			if !okh || !okm {
				return dt, i, false
			}
			dt.hasZone, dt.zoneHour, dt.zoneMins = true, h, mi
			dt.zone = h*3600 + mi*60
			if b[j] == '-' {
				dt.zone = -dt.zone
			}
			j = k + 2
		}
	}
	return dt, j, true
}

// parseBSD parses an RFC 3164 date "Mmm dd hh:mm:ss" at b[i:], where the
// day may be space-padded ("Nov  7") or a single digit, and which may carry
// a year ("Nov 27 2026 23:39:14") and a fraction ("23:39:14.123").
func parseBSD(b []byte, i int) (dt dateTime, end int, ok bool) {
	if i+4 > len(b) || b[i+3] != ' ' {
		return dt, i, false
	}
	if dt.month = monthIndex(b[i], b[i+1], b[i+2]); dt.month == 0 {
		return dt, i, false
	}
	j := i + 4
	if j < len(b) && b[j] == ' ' {
		j++
	}
	if j >= len(b) || !isDigit(b[j]) {
		return dt, i, false
	}
	dt.day = int(b[j] - '0')
	j++
	if j < len(b) && isDigit(b[j]) {
		dt.day = dt.day*10 + int(b[j]-'0')
		j++
	}
	if j >= len(b) || b[j] != ' ' {
		return dt, i, false
	}
	j++
	if y1, ok := digits2(b, j); ok && j+4 < len(b) && b[j+4] == ' ' {
		if y2, ok := digits2(b, j+2); ok {
			dt.year, dt.hasYear = y1*100+y2, true
			j += 5
		}
	}
	if !hhmmss(b, j, &dt) {
		return dt, i, false
	}
	j, ok = fraction(b, j+8, &dt)
	if !ok {
		return dt, i, false
	}
	return dt, j, true
}

// monthIndex returns 1..12 for an English month abbreviation in any case,
// else 0.
func monthIndex(c0, c1, c2 byte) int {
	switch uint32(c0|0x20)<<16 | uint32(c1|0x20)<<8 | uint32(c2|0x20) {
	case 'j'<<16 | 'a'<<8 | 'n':
		return 1
	case 'f'<<16 | 'e'<<8 | 'b':
		return 2
	case 'm'<<16 | 'a'<<8 | 'r':
		return 3
	case 'a'<<16 | 'p'<<8 | 'r':
		return 4
	case 'm'<<16 | 'a'<<8 | 'y':
		return 5
	case 'j'<<16 | 'u'<<8 | 'n':
		return 6
	case 'j'<<16 | 'u'<<8 | 'l':
		return 7
	case 'a'<<16 | 'u'<<8 | 'g':
		return 8
	case 's'<<16 | 'e'<<8 | 'p':
		return 9
	case 'o'<<16 | 'c'<<8 | 't':
		return 10
	case 'n'<<16 | 'o'<<8 | 'v':
		return 11
	case 'd'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}

// scanBSDOrRFC3339 looks for an RFC 3164 style timestamp at b[i:]: a BSD
// date or an RFC 3339 one, optionally after Cisco's "seq: " counter and
// '*' (unsynchronised) or '.' prefix and followed by Cisco's ':'. It must
// end at a space or the end of b. It returns the index after it (and after
// Cisco's ':'), without the space.
func scanBSDOrRFC3339(b []byte, i int) (dt dateTime, end int, ok bool) {
	j := i
	if j < len(b) && isDigit(b[j]) {
		if dt, end, ok = parseRFC3339(b, j); ok {
			return dt, end, end == len(b) || b[end] == ' '
		}
		// Cisco's message counter, "123: *Mar  1 ...".
		for j < len(b) && isDigit(b[j]) && j-i < 10 {
			j++
		}
		if j+1 >= len(b) || b[j] != ':' || b[j+1] != ' ' {
			return dt, i, false
		}
		j += 2
	}
	if j < len(b) && (b[j] == '*' || b[j] == '.') {
		j++
	}
	if dt, end, ok = parseBSD(b, j); !ok {
		return dt, i, false
	}
	if end < len(b) && b[end] == ':' {
		end++
	}
	return dt, end, end == len(b) || b[end] == ' '
}

// time converts dt, whose fields are in range, to a time.Time.
//
// With an offset, the result is in UTC for offset 0, in p.Location when that
// has the same offset at that instant, and in a new fixed zone (one
// allocation) otherwise. Without one, the time is in p.Location; without a
// year, the year is the latest that puts the time no more than maxAhead
// after received (or now when received is zero).
func (p *Parser) time(dt *dateTime, received time.Time) time.Time {
	loc := p.location()
	if dt.hasZone {
		t := time.Date(dt.year, time.Month(dt.month), dt.day, dt.hour, dt.min, dt.sec, dt.nsec, time.UTC).
			Add(-time.Duration(dt.zone) * time.Second)
		if dt.zone == 0 {
			return t
		}
		if lt := t.In(loc); zoneOffset(lt) == dt.zone {
			return lt
		}
		return t.In(time.FixedZone("", dt.zone))
	}
	if dt.hasYear {
		return time.Date(dt.year, time.Month(dt.month), dt.day, dt.hour, dt.min, dt.sec, dt.nsec, loc)
	}
	if received.IsZero() {
		received = p.now()
	}
	return latestYear(dt, loc, received)
}

func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

// maxAhead is how far after its arrival a date without a year may fall
// and still be taken in the arrival's year (or the next): a sender's
// clock a little ahead, or a date just past New Year. A date further
// ahead was written in an earlier year: senders log the past (a file
// replayed months later, a queue drained late), not the future.
const maxAhead = 31 * 24 * time.Hour

// latestYear returns dt, which has no year, in the latest year that
// puts it no more than maxAhead after received.
func latestYear(dt *dateTime, loc *time.Location, received time.Time) time.Time {
	y, m, _ := received.In(loc).Date()
	limit := received.Add(maxAhead)
	if dt.month == 1 && m == time.December {
		// Only a January date can be in next year within a month of a
		// December arrival.
		if t, ok := dateIn(dt, y+1, loc); ok && !t.After(limit) {
			return t
		}
	}
	for yy := y; yy >= y-8; yy-- { // February 29 may be up to 8 years back
		if t, ok := dateIn(dt, yy, loc); ok && !t.After(limit) {
			return t
		}
	}
	t, _ := dateIn(dt, y, loc) // unreachable: some leap year is within 8 years
	return t
}

// InLatestYear returns t, a time read without a year (its year is
// ignored), in the latest year that puts it at most a month after
// received, the rule BSD dates follow: senders log the past. Formats whose
// own dates lack a year (nxlog's Snare output) use it.
func InLatestYear(t, received time.Time) time.Time {
	dt := dateTime{month: int(t.Month()), day: t.Day(), hour: t.Hour(), min: t.Minute(), sec: t.Second(), nsec: t.Nanosecond()}
	return latestYear(&dt, t.Location(), received)
}

// dateIn returns dt in year y; ok is false when the day does not exist in
// that year (February 29).
func dateIn(dt *dateTime, y int, loc *time.Location) (time.Time, bool) {
	if dt.month == 2 && dt.day == 29 && !isLeap(y) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(dt.month), dt.day, dt.hour, dt.min, dt.sec, dt.nsec, loc), true
}
