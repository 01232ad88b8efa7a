package service

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTime parses a time bound as ParseStart does, reading a date or a
// date and time without an offset in UTC.
func ParseTime(s string, now time.Time) (time.Time, error) { return ParseStart(s, now, time.UTC) }

// ParseStart parses the start of a time range (inclusive): RFC 3339 with
// an offset (2026-12-05T08:00:00+08:00, with or without seconds and
// fraction; a space may stand for the T, as in 2026-12-05 08:00:00 +08:00,
// the way Vigil shows times to people); a date and time without an offset
// (2026-12-05T08:00, 2026-12-05 08:00:30), read in loc; a date alone
// (2026-12-05), the moment that day starts in loc; Unix seconds; "now";
// or a duration back from now (90s, 15m, 1h, 7d, 2w). Empty means
// unbounded (the zero time). A nil loc is UTC.
//
// A local time that the clocks skip (a daylight-saving change) is an
// error; one that they pass twice is the earlier of the two.
func ParseStart(s string, now time.Time, loc *time.Location) (time.Time, error) {
	return parseBound(s, now, loc, false)
}

// ParseEnd parses the end of a time range (inclusive) as ParseStart does,
// except that a date alone means the end of that day in loc: the last
// instant before the next day starts. A local time that the clocks pass
// twice is the later of the two.
func ParseEnd(s string, now time.Time, loc *time.Location) (time.Time, error) {
	return parseBound(s, now, loc, true)
}

// TimeForms says in words which forms ParseStart and ParseEnd take, for
// error messages and help texts.
const TimeForms = "RFC 3339 (2026-12-05T08:00:00+08:00), a local date (2026-12-05) or date and time (2026-12-05 08:00), Unix seconds, 'now' or a duration back from now (1h, 7d)"

// Layouts of ParseStart: absolute times (with an offset) and local ones.
var (
	offsetLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999 Z07:00", "2006-01-02 15:04 Z07:00"}
	localLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04",
		"2006-01-02 15:04:05.999999999", "2006-01-02 15:04"}
)

func parseBound(s string, now time.Time, loc *time.Location, end bool) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return time.Time{}, nil
	case "now":
		return now, nil
	}
	if d, ok := ParseAgo(s); ok {
		return now.Add(-d), nil
	}
	if isUnixSeconds(s) {
		if n, err := strconv.ParseFloat(s, 64); err == nil && n < 1e12 {
			sec := int64(n)
			return time.Unix(sec, int64((n-float64(sec))*1e9)).UTC(), nil
		}
	}
	for _, layout := range offsetLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range localLayouts {
		if w, err := time.Parse(layout, s); err == nil {
			first, last, ok := localInstants(w, loc)
			if !ok {
				return time.Time{}, fmt.Errorf("%q does not exist in %s: the clocks skip it (a daylight-saving change)", s, loc)
			}
			if end {
				return last, nil
			}
			return first, nil
		}
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			return dayStart(d.AddDate(0, 0, 1), loc).Add(-time.Nanosecond), nil
		}
		return dayStart(d, loc), nil
	}
	return time.Time{}, fmt.Errorf("%q is not %s", s, TimeForms)
}

// localInstants returns the instants at which the clocks of loc show the
// wall time w (w's fields, read as if in loc): one, or two where the
// clocks go back and show it twice (first, last), or none where they skip
// it (ok false).
func localInstants(w time.Time, loc *time.Location) (first, last time.Time, ok bool) {
	// Every offset loc has within a day of w; a time that shows w with
	// one of them under that very offset is one of the instants.
	for _, probe := range []time.Time{w.Add(-24 * time.Hour), w, w.Add(24 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		t := w.Add(-time.Duration(off) * time.Second).In(loc)
		if _, o := t.Zone(); o != off {
			continue
		}
		switch {
		case !ok:
			first, last, ok = t, t, true
		case t.Before(first):
			first = t
		case t.After(last):
			last = t
		}
	}
	return first, last, ok
}

// dayStart returns the moment the day of d's date starts in loc: its
// midnight, or where the clocks skip midnight, the moment they jump.
func dayStart(d time.Time, loc *time.Location) time.Time {
	midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	if first, _, ok := localInstants(midnight, loc); ok {
		return first
	}
	// Skipped: the offset before the jump puts midnight at the jump.
	_, off := midnight.Add(-24 * time.Hour).In(loc).Zone()
	return midnight.Add(-time.Duration(off) * time.Second).In(loc)
}

// ParseAgo parses a duration back from now: 90s, 15m, 1h, 7d, 2w (a leading
// "-" is allowed). It reports false for anything else.
func ParseAgo(s string) (time.Duration, bool) {
	if n, ok := strings.CutPrefix(s, "-"); ok {
		s = n
	}
	for suffix, mult := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || !(f >= 0) || f*float64(mult) >= math.MaxInt64 {
				return 0, false
			}
			return time.Duration(f * float64(mult)), true
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// isUnixSeconds reports whether s is digits with an optional fraction.
func isUnixSeconds(s string) bool {
	dot := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return s != ""
}
