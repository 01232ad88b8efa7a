package notify

import (
	"time"

	"github.com/vigil-soc/vigil/internal/timefmt"
)

// displayTime formats t in loc (nil: UTC) as alert texts show times to
// people (mails, chat robots): with its offset, "2026-12-05 09:30:00
// +08:00", the form the CLI prints too; a zero time is "-".
func displayTime(t time.Time, loc *time.Location) string { return timefmt.Format(t, loc) }

// fmtTime is displayTime in the display zone (Location, display.timezone):
// the local function of mail templates.
func (c Config) fmtTime(t time.Time) string { return displayTime(t, c.Location) }
