package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
)

func TestActionValidation(t *testing.T) {
	head := "id: a\ntitle: A\ntype: match\nwhen: 'true'\nactions:\n  - "
	tests := []struct{ action, want string }{
		{"{decision: ban, scope: ip, duration: 1h}", ""},
		{"{decision: captcha, scope: range, prefix: 24, duration: 10m}", ""},
		{"{decision: ban, scope: user, field: winlog.event_data.TargetUserName, duration: 1d}", ""},
		{"{decision: nuke, scope: ip, duration: 1h}", `decision "nuke"`},
		{"{decision: ban, scope: country, duration: 1h}", `scope "country"`},
		{"{decision: ban, scope: ip}", "duration 0s is outside 1m..30d"},
		{"{decision: ban, scope: ip, duration: 60d}", "is outside 1m..30d"},
		{"{decision: ban, scope: range, duration: 1h}", "prefix 0"},
		{"{decision: ban, scope: ip, prefix: 24, duration: 1h}", "prefix is for scope range only"},
		{"{decision: ban, scope: ip, field: 'source ip', duration: 1h}", "not a field name"},
		{"{decision: ban, scope: ip, duraton: 1h}", "field duraton not found"},
	}
	for _, tc := range tests {
		_, err := ParseRules("x.yaml", []byte(head+tc.action+"\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.action, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want it to mention %q", tc.action, err, tc.want)
		}
	}
}

// TestAlertActions: each alert carries its rule's actions with the values
// of the triggering event, the group, or nothing when the field is empty.
func TestAlertActions(t *testing.T) {
	src := `id: a
title: A
type: threshold
match: {event.outcome: failure}
group_by: [source.ip]
window: 1h
threshold: 2
actions:
  - {decision: ban, scope: ip, duration: 1h}
  - {decision: captcha, scope: range, prefix: 24, duration: 2h}
  - {decision: ban, scope: user, duration: 30m}
  - {decision: throttle, scope: device, duration: 1h}
`
	var got []*alert.Alert
	eng, errs := New(mustRules(t, src), Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i := range 2 {
		eng.Process(ev(uint64(i+1), t0.Add(time.Duration(i)*time.Second), "event.outcome", "failure",
			"source.ip", "::ffff:203.0.113.77", "user.name", "mallory"))
	}
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1", len(got))
	}
	want := []alert.Action{
		{Decision: "ban", Scope: "ip", Value: "::ffff:203.0.113.77", Duration: time.Hour},
		{Decision: "captcha", Scope: "range", Value: "203.0.113.0/24", Duration: 2 * time.Hour},
		{Decision: "ban", Scope: "user", Value: "mallory", Duration: 30 * time.Minute},
		// no device.id: no device action
	}
	if g := got[0].Actions; len(g) != len(want) {
		t.Fatalf("actions %+v, want %+v", g, want)
	}
	for i, w := range want {
		if got[0].Actions[i] != w {
			t.Errorf("action %d = %+v, want %+v", i, got[0].Actions[i], w)
		}
	}
}
