package service

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTime parses a time bound: RFC3339 (with or without fraction and
// offset; without an offset it is UTC), a date (2006-01-02), Unix seconds,
// "now", or a duration back from now (90s, 15m, 1h, 7d, 2w). Empty means
// unbounded (zero time).
func ParseTime(s string, now time.Time) (time.Time, error) {
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
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC3339, a date, Unix seconds, 'now' or a duration like 1h or 7d", s)
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
