package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/rules"
)

// TestMessageLocalTime: the local template function shows times (and
// RFC 3339 values such as silent_since) in Options.Location with their
// offset, in UTC without one; the built-in log-source-silent rule uses it.
func TestMessageLocalTime(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	var l Loader
	l.Builtin = rules.FS
	builtin, errs := l.Load()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var silent *Rule
	for _, r := range builtin {
		if r.ID == "log-source-silent" {
			silent = r
		}
	}
	if silent == nil {
		t.Fatal("no log-source-silent rule")
	}
	own := mustRules(t, `
id: own
title: Own
type: absence
match: {event.kind: event}
group_by: [host.hostname]
window: 5m
min_events: 3
message: 'silent since {{local (.Value "silent_since")}}, fired {{local .TS}}, {{local "not a time"}}'
`)
	for _, tt := range []struct {
		loc        *time.Location
		own, since string
	}{
		{shanghai, "silent since 2026-11-28 18:09:00 +08:00, fired 2026-11-28 18:14:00 +08:00, not a time", "last at 2026-11-28 18:09:00 +08:00"},
		{nil, "silent since 2026-11-28 10:09:00 +00:00, fired 2026-11-28 10:14:00 +00:00, not a time", "last at 2026-11-28 10:09:00 +00:00"},
	} {
		got := map[string]string{}
		e, errs := New(append(own, silent), Options{Location: tt.loc, Emit: func(a *alert.Alert) { got[a.RuleID] = a.Message }})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		seq := uint64(0)
		for i := range 181 { // web01 logs every 3 s up to 10:09, then only dc01 does
			now := t0.Add(time.Duration(i) * 3 * time.Second)
			seq++
			e.Process(sent(seq, "web01", now, now, "event.kind", "event", "event.dataset", "nginx.access", "host.name", "web01"))
		}
		for i := range 40 {
			now := t0.Add(9*time.Minute + time.Duration(i)*30*time.Second)
			seq++
			e.Process(sent(seq, "dc01", now, now, "event.kind", "other"))
		}
		if got["own"] != tt.own {
			t.Errorf("%v: own rule's message %q, want %q", tt.loc, got["own"], tt.own)
		}
		if m := got["log-source-silent"]; !strings.Contains(m, tt.since) {
			t.Errorf("%v: log-source-silent's message %q, want it to contain %q", tt.loc, m, tt.since)
		}
	}
}
