package timefmt

import (
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 17, 30, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		t    time.Time
		loc  *time.Location
		want string
	}{
		{at, shanghai, "2026-12-06 01:30:00 +08:00"},
		{at, nil, "2026-12-05 17:30:00 +00:00"},
		{at, time.UTC, "2026-12-05 17:30:00 +00:00"},
		{at, newYork, "2026-12-05 12:30:00 -05:00"},
		{summer, newYork, "2026-07-01 08:00:00 -04:00"},
		{time.Time{}, shanghai, "-"},
	} {
		if got := Format(tt.t, tt.loc); got != tt.want {
			t.Errorf("Format(%v, %v) = %q, want %q", tt.t, tt.loc, got, tt.want)
		}
	}
}
