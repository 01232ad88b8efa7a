package alert

import (
	"encoding/json"
	"testing"
	"time"
)

// TestOneSchema: an alert's JSON and its stored row use the same names,
// and the JSON reads back into the same alert.
func TestOneSchema(t *testing.T) {
	a := &Alert{ID: MakeID("r", "source.ip=1.2.3.4", 7), RuleID: "r", RuleTitle: "R", Threat: "brute-force", Level: LevelHigh,
		Type: "threshold", TS: time.Date(2026, 11, 28, 23, 59, 59, 0, time.FixedZone("x", 3600)),
		First: time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC), Last: time.Date(2026, 11, 28, 22, 59, 0, 0, time.UTC),
		SrcIP: "1.2.3.4", SrcPort: 5, DstIP: "10.0.0.1", DstPort: 443, User: "zhangwei", DeviceID: "dev1", Group: "source.ip=1.2.3.4",
		Count: 3, FollowUp: true, Payloads: []string{"line <1>", "line & 2"}, Message: "m \"q\"",
		Fields: map[string]string{"values": "a,b", "blocklist": "bad"}, Notify: []string{"sec@corp.example"},
		Actions: []Action{{Decision: "ban", Scope: "ip", Value: "1.2.3.4", Duration: time.Hour}}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	row := a.Row()
	names := map[string]bool{"_time": true}
	for _, f := range row.Fields {
		names[f.Name] = true
		if _, ok := m[f.Name]; !ok {
			t.Errorf("stored field %q is not in the JSON %s", f.Name, b)
		}
	}
	for k := range m {
		if !names[k] {
			t.Errorf("JSON member %q is not a stored field", k)
		}
	}
	if m["_time"] != "2026-11-28T22:59:59Z" || m["source.ip"] != "1.2.3.4" || m["alert.count"] != float64(3) {
		t.Errorf("JSON %s", b)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(&back)
	if string(b2) != string(b) {
		t.Errorf("round trip:\n got %s\nwant %s", b2, b)
	}
	// The stored row reads back into the same alert too.
	b3, _ := json.Marshal(FromRow(row))
	if string(b3) != string(b) {
		t.Errorf("row round trip:\n got %s\nwant %s", b3, b)
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

// FuzzAlertJSON: the alert journal's readers decode whatever bytes they
// find; a decode never panics, and what decodes re-encodes to JSON that
// decodes to the same alert.
func FuzzAlertJSON(f *testing.F) {
	a := &Alert{ID: "x", RuleID: "r", Level: LevelLow, TS: time.Unix(1700000000, 0), Fields: map[string]string{"k": "v"}, Payloads: []string{"p"}}
	b, _ := json.Marshal(a)
	f.Add(b)
	f.Add([]byte(`{"alert.fields.x":1}`))
	f.Add([]byte(`{"_time":"not a time"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Alert
		if err := json.Unmarshal(data, &a); err != nil {
			return
		}
		b, err := json.Marshal(&a)
		if err != nil {
			t.Fatalf("decoded %q, cannot encode: %v", data, err)
		}
		var back Alert
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		b2, _ := json.Marshal(&back)
		if string(b2) != string(b) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}
