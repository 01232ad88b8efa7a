// Package timefmt writes times for people: in a display zone and always
// with the offset from UTC, so that no reader has to guess the zone
// (docs/configuration.md#display). Machine formats (JSON, syslog, the
// API) use RFC 3339 instead.
package timefmt

import "time"

// Layout is how a time is shown to people: the date, the wall-clock time
// to the second and the offset, 2026-12-05 09:30:00 +08:00.
const Layout = "2006-01-02 15:04:05 -07:00"

// Format returns t in loc (nil: UTC) in Layout; a zero time is "-".
func Format(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return In(t, loc).Format(Layout)
}

// In returns t in loc; a nil loc is UTC.
func In(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc)
}
