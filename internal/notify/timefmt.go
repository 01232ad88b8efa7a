package notify

import "time"

// displayLayout shows a time with its offset from UTC spelled out, which
// reads the same in every language and, unlike a zone abbreviation such
// as CST, names one offset only.
const displayLayout = "2006-01-02 15:04:05 (UTC-07:00)"

// displayTime formats t in loc (nil: UTC) for people: "2026-11-28
// 07:39:14 (UTC+08:00)".
func displayTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(displayLayout)
}
