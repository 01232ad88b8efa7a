package notify

import (
	"time"

	"github.com/vigil-soc/vigil/internal/timefmt"
)

// fmtTime returns t as alert texts show it to people (mails, chat
// robots): in the display zone (Location, display.timezone; nil: UTC)
// with its offset, 2026-12-05 09:30:00 +08:00; a zero time is "-". It is
// the local function of mail templates.
func (c Config) fmtTime(t time.Time) string { return timefmt.Format(t, c.Location) }
