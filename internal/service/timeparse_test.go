package service

import (
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestParseBounds reads every form of a time bound as a start and as an
// end, in UTC, in Asia/Shanghai and in zones with daylight saving, with an
// injected now.
func TestParseBounds(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	utc := time.UTC
	shanghai := mustZone(t, "Asia/Shanghai")
	newYork := mustZone(t, "America/New_York")
	havana := mustZone(t, "America/Havana") // skips and repeats midnight
	z := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		in         string
		loc        *time.Location
		start, end time.Time
	}{
		{"", shanghai, time.Time{}, time.Time{}},
		{"now", shanghai, now, now},
		{"1h", shanghai, now.Add(-time.Hour), now.Add(-time.Hour)},
		{"7d", newYork, now.Add(-7 * 24 * time.Hour), now.Add(-7 * 24 * time.Hour)},
		{"1764000000", shanghai, time.Unix(1764000000, 0), time.Unix(1764000000, 0)},
		// An offset wins over the zone.
		{"2026-11-27T10:00:00+01:00", shanghai, z("2026-11-27T09:00:00Z"), z("2026-11-27T09:00:00Z")},
		{"2026-11-27T10:00:00Z", shanghai, z("2026-11-27T10:00:00Z"), z("2026-11-27T10:00:00Z")},
		{"2026-11-27T10:00+08:00", utc, z("2026-11-27T02:00:00Z"), z("2026-11-27T02:00:00Z")},
		// The way Vigil shows times to people reads back.
		{"2026-12-06 01:30:00 +08:00", utc, z("2026-12-05T17:30:00Z"), z("2026-12-05T17:30:00Z")},
		{"2026-12-06 01:30:00+08:00", utc, z("2026-12-05T17:30:00Z"), z("2026-12-05T17:30:00Z")},
		// Local dates and times.
		{"2026-11-27T10:00:00", utc, z("2026-11-27T10:00:00Z"), z("2026-11-27T10:00:00Z")},
		{"2026-11-27T10:00:00", shanghai, z("2026-11-27T02:00:00Z"), z("2026-11-27T02:00:00Z")},
		{"2026-11-27 10:00", shanghai, z("2026-11-27T02:00:00Z"), z("2026-11-27T02:00:00Z")},
		{"2026-11-27T10:00", shanghai, z("2026-11-27T02:00:00Z"), z("2026-11-27T02:00:00Z")},
		{"2026-11-27 10:00:30.5", shanghai, z("2026-11-27T02:00:30.5Z"), z("2026-11-27T02:00:30.5Z")},
		{"2026-11-26", utc, z("2026-11-26T00:00:00Z"), z("2026-11-26T23:59:59.999999999Z")},
		{"2026-12-05", shanghai, z("2026-12-04T16:00:00Z"), z("2026-12-05T15:59:59.999999999Z")},
		{" 2026-12-05 ", shanghai, z("2026-12-04T16:00:00Z"), z("2026-12-05T15:59:59.999999999Z")},
		{"2026-07-04", newYork, z("2026-07-04T04:00:00Z"), z("2026-07-05T03:59:59.999999999Z")},
		{"2026-12-05", newYork, z("2026-12-05T05:00:00Z"), z("2026-12-06T04:59:59.999999999Z")},
		// New York's spring day has 23 hours, its autumn day 25.
		{"2026-03-08", newYork, z("2026-03-08T05:00:00Z"), z("2026-03-09T03:59:59.999999999Z")},
		{"2026-11-01", newYork, z("2026-11-01T04:00:00Z"), z("2026-11-02T04:59:59.999999999Z")},
		// 01:30 happens twice on 1 November: a start takes the first, an
		// end the second, so the range holds the whole repeated hour.
		{"2026-11-01 01:30", newYork, z("2026-11-01T05:30:00Z"), z("2026-11-01T06:30:00Z")},
		{"2026-03-08 03:00", newYork, z("2026-03-08T07:00:00Z"), z("2026-03-08T07:00:00Z")},
		// Havana skips midnight on 8 March (the day starts at 01:00) and
		// passes it twice on 1 November (the day starts at the first).
		{"2026-03-08", havana, z("2026-03-08T05:00:00Z"), z("2026-03-09T03:59:59.999999999Z")},
		{"2026-03-07", havana, z("2026-03-07T05:00:00Z"), z("2026-03-08T04:59:59.999999999Z")},
		{"2026-11-01", havana, z("2026-11-01T04:00:00Z"), z("2026-11-02T04:59:59.999999999Z")},
		{"2026-10-31", havana, z("2026-10-31T04:00:00Z"), z("2026-11-01T03:59:59.999999999Z")},
		{"2026-11-01", nil, z("2026-11-01T00:00:00Z"), z("2026-11-01T23:59:59.999999999Z")},
	} {
		start, err := ParseStart(tt.in, now, tt.loc)
		if err != nil || !start.Equal(tt.start) {
			t.Errorf("ParseStart(%q, %v) = %v, %v; want %v", tt.in, tt.loc, start, err, tt.start)
		}
		end, err := ParseEnd(tt.in, now, tt.loc)
		if err != nil || !end.Equal(tt.end) {
			t.Errorf("ParseEnd(%q, %v) = %v, %v; want %v", tt.in, tt.loc, end, err, tt.end)
		}
	}
}

func TestParseBoundErrors(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	newYork := mustZone(t, "America/New_York")
	for _, tt := range []struct{ in, want string }{
		{"soon", `"soon" is not RFC 3339`},
		{"2026-13-01", `"2026-13-01" is not RFC 3339`},
		{"2026-12-05 25:00", "is not RFC 3339"},
		{"yesterday", "a local date (2026-12-05)"},
		// The clocks of New York skip from 02:00 to 03:00 on 8 March.
		{"2026-03-08 02:30", `"2026-03-08 02:30" does not exist in America/New_York: the clocks skip it`},
		{"2026-03-08T02:00:00", "does not exist in America/New_York"},
	} {
		for _, parse := range []func(string, time.Time, *time.Location) (time.Time, error){ParseStart, ParseEnd} {
			_, err := parse(tt.in, now, newYork)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: error %v, want one containing %q", tt.in, err, tt.want)
			}
		}
	}
}
