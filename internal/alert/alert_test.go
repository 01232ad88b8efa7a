package alert

import (
	"encoding/json"
	"testing"
	"time"
)

func TestJSONHasThreatTableColumns(t *testing.T) {
	a := &Alert{ID: MakeID("r", "source.ip=1.2.3.4", 7), RuleID: "r", Threat: "brute-force", Level: LevelHigh, Type: "threshold",
		TS: time.Date(2026, 11, 28, 23, 59, 59, 0, time.FixedZone("x", 3600)), SrcIP: "1.2.3.4", SrcPort: 5, Count: 3,
		Payloads: []string{"line"}, Message: "m"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"date", "hour", "ts", "src_ip", "src_port", "dst_ip", "dst_port", "threat", "level", "type", "payloads", "message",
		"rule_id", "user", "device_id", "count", "alert_id"} {
		if _, ok := m[col]; !ok {
			t.Errorf("JSON lacks %q: %s", col, b)
		}
	}
	if m["date"] != "2026-11-28" || m["hour"] != float64(22) {
		t.Errorf("date/hour are not UTC: %v %v", m["date"], m["hour"])
	}
}

func TestMakeIDStable(t *testing.T) {
	a, b := MakeID("r", "g", 1), MakeID("r", "g", 1)
	if a != b || len(a) != 24 {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, other := range []string{MakeID("r2", "g", 1), MakeID("r", "g2", 1), MakeID("r", "g", 2), MakeID("rg", "", 1)} {
		if other == a {
			t.Errorf("id collision: %s", other)
		}
	}
}

func TestLevels(t *testing.T) {
	tests := []struct{ in, raised string }{
		{LevelInfo, LevelLow}, {LevelMedium, LevelHigh}, {LevelHigh, LevelCritical}, {LevelCritical, LevelCritical}, {"bogus", "bogus"},
	}
	for _, tc := range tests {
		if got := Raise(tc.in); got != tc.raised {
			t.Errorf("Raise(%s) = %s, want %s", tc.in, got, tc.raised)
		}
	}
	if Severity(LevelCritical) <= Severity(LevelHigh) || Severity("x") != -1 {
		t.Error("severity order")
	}
}

func TestRow(t *testing.T) {
	a := &Alert{ID: "id1", RuleID: "r", Level: LevelLow, TS: time.Unix(1700000000, 0), SrcIP: "1.2.3.4", User: "zhangwei",
		Fields: map[string]string{"values": "a,b"}, Payloads: []string{"l1", "l2"}, FollowUp: true, Message: "msg"}
	r := a.Row()
	want := map[string]string{"_msg": "msg", "event.dataset": Dataset, "alert.id": "id1", "source.ip": "1.2.3.4", "user.name": "zhangwei",
		"alert.fields.values": "a,b", "alert.payloads": "l1\nl2", "alert.follow_up": "true", "level": LevelLow}
	for k, v := range want {
		if got := r.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if r.Get("device.id") != "" || !r.Time.Equal(a.TS) {
		t.Errorf("row %v", r)
	}
}
