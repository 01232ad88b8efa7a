package service

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
)

// TestGroupIncidents: alerts -> incidents, by entity and window.
func TestGroupIncidents(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) // a pure function: any date
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	type a struct {
		id, user, ip, device string
		min                  int
		group                string // alert.group; "" names none
	}
	tests := []struct {
		name   string
		alerts []a
		want   string // incidents as "id,id|id", in order of their first alert
	}{
		{"compromised account: five rules from one address", []a{
			{"a1", "", "203.0.113.5", "", 0, ""}, // brute force on the address
			{"a2", "zhangwei", "203.0.113.5", "", 5, ""},
			{"a3", "zhangwei", "", "", 10, ""}, // lockout, user only
			{"a4", "zhangwei", "203.0.113.5", "", 30, ""},
			{"a5", "zhangwei", "198.51.100.9", "", 80, ""}, // new country: within 1h of a4
		}, "a1,a2,a3,a4,a5"},
		{"same address, more than the window apart", []a{
			{"b1", "", "192.0.2.1", "", 0, ""}, {"b2", "", "192.0.2.1", "", 61, ""},
		}, "b1|b2"},
		{"exactly the window apart joins", []a{
			{"c1", "", "192.0.2.1", "", 0, ""}, {"c2", "", "192.0.2.1", "", 60, ""},
		}, "c1,c2"},
		{"different entities stay apart", []a{
			{"d1", "liwei", "", "", 0, ""}, {"d2", "wangfang", "", "", 1, ""}, {"d3", "", "192.0.2.1", "", 2, ""},
		}, "d1|d2|d3"},
		{"an alert naming a user and an address merges their incidents", []a{
			{"e1", "liwei", "", "", 0, ""}, {"e2", "", "192.0.2.7", "", 10, ""}, {"e3", "liwei", "192.0.2.7", "", 20, ""}, {"e4", "", "192.0.2.7", "", 25, ""},
		}, "e1,e2,e3,e4"},
		{"a device", []a{
			{"f1", "", "", "androidc123", 0, ""}, {"f2", "liwei", "", "androidc123", 30, ""},
		}, "f1,f2"},
		{"no entity: an incident of its own", []a{
			{"g1", "", "", "", 0, ""}, {"g2", "", "", "", 0, ""},
		}, "g1|g2"},
		{"an incident spans at most 24h", func() []a {
			var out []a
			for i := range 31 { // every 50 minutes for 25 hours
				out = append(out, a{fmt.Sprintf("h%02d", i), "", "192.0.2.9", "", i * 50, ""})
			}
			return out
		}(), "h00,h01,h02,h03,h04,h05,h06,h07,h08,h09,h10,h11,h12,h13,h14,h15,h16,h17,h18,h19,h20,h21,h22,h23,h24,h25,h26,h27,h28|h29,h30"},
		{"a per-address alert is about the address, not the user that tripped it", []a{
			{"j1", "liwei", "", "", 0, "user.name=liwei"},
			{"j2", "liwei", "192.0.2.50", "", 10, "source.ip=192.0.2.50"}, // spraying that ended on liwei
			{"j3", "", "192.0.2.50", "", 20, ""},
			{"j4", "liwei", "", "", 30, "user.name=liwei"},
		}, "j1,j4|j2,j3"},
		{"a group of user and address is about both", []a{
			{"k1", "", "192.0.2.60", "", 0, "source.ip=192.0.2.60"},
			{"k2", "wangfang", "192.0.2.60", "", 5, `user.name=wangfang source.ip=192.0.2.60`},
			{"k3", "wangfang", "192.0.2.99", "", 10, "user.name=wangfang"},
		}, "k1,k2,k3"},
		{"same time: by id", []a{
			{"i2", "", "192.0.2.1", "", 0, ""}, {"i1", "", "192.0.2.1", "", 0, ""},
		}, "i1,i2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []*alert.Alert
			for _, x := range tt.alerts {
				in = append(in, &alert.Alert{ID: x.id, User: x.user, SrcIP: x.ip, DeviceID: x.device, TS: at(x.min), Group: x.group})
			}
			// The result does not depend on the order of the input.
			for try := range 5 {
				shuffled := slices.Clone(in)
				r := rand.New(rand.NewPCG(uint64(try), 1))
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				var got []string
				for _, g := range GroupIncidents(shuffled, time.Hour, 24*time.Hour) {
					var ids []string
					for _, a := range g {
						ids = append(ids, a.ID)
					}
					got = append(got, strings.Join(ids, ","))
				}
				if s := strings.Join(got, "|"); s != tt.want {
					t.Fatalf("try %d: got %s\nwant %s", try, s, tt.want)
				}
			}
		})
	}
}

// TestGroupIncidentsFollowUps: a follow-up joins its first alert's
// incident within the span, however long after the window it comes.
func TestGroupIncidentsFollowUps(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	mk := func(id, rule, user string, hours float64, follow bool) *alert.Alert {
		return &alert.Alert{ID: id, RuleID: rule, User: user, Group: "user.name=" + user, FollowUp: follow,
			TS: t0.Add(time.Duration(hours * float64(time.Hour)))}
	}
	for _, tt := range []struct {
		name   string
		alerts []*alert.Alert
		want   string
	}{
		{"follow-up six hours later", []*alert.Alert{
			mk("a1", "travel", "grace", 0, false), mk("a2", "travel", "grace", 6, true)}, "a1,a2"},
		{"a first alert of the same rule later is a new incident", []*alert.Alert{
			mk("b1", "travel", "grace", 0, false), mk("b2", "travel", "grace", 6, false)}, "b1|b2"},
		{"a follow-up of another rule's group does not join", []*alert.Alert{
			mk("c1", "travel", "grace", 0, false), mk("c2", "country", "grace", 6, true)}, "c1|c2"},
		{"not beyond the span", []*alert.Alert{
			mk("d1", "travel", "grace", 0, false), mk("d2", "travel", "grace", 25, true)}, "d1|d2"},
		{"a follow-up brings later alerts of its entity along", []*alert.Alert{
			mk("e1", "travel", "grace", 0, false), mk("e2", "travel", "grace", 6, true), mk("e3", "country", "grace", 6.5, false)}, "e1,e2,e3"},
	} {
		var got []string
		for _, g := range GroupIncidents(tt.alerts, time.Hour, 24*time.Hour) {
			var ids []string
			for _, a := range g {
				ids = append(ids, a.ID)
			}
			got = append(got, strings.Join(ids, ","))
		}
		if s := strings.Join(got, "|"); s != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, s, tt.want)
		}
	}
}

func TestParseGroup(t *testing.T) {
	tests := []struct {
		key  string
		want string
	}{
		{"", ""},
		{"source.ip=1.2.3.4", "source.ip:1.2.3.4"},
		{"source.ip=1.2.3.4 user.name=bob", "source.ip:1.2.3.4|user.name:bob"},
		{`user.name="li wei" source.ip=`, "user.name:li wei|source.ip:"},
		{`user.name="a=\"b\""`, `user.name:a="b"`},
		{`broken`, ""},
	}
	for _, tt := range tests {
		var got []string
		for _, kv := range parseGroup(tt.key) {
			got = append(got, kv[0]+":"+kv[1])
		}
		if s := strings.Join(got, "|"); s != tt.want {
			t.Errorf("parseGroup(%q) = %q, want %q", tt.key, s, tt.want)
		}
	}
}
