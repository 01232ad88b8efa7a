package enforce

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/decision"
)

// TestStoreMatch checks the adapter on a real decision store: bans refuse,
// other types and expired bans do not.
func TestStoreMatch(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := decision.Open(context.Background(), decision.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	add := func(scope decision.Scope, value string, typ decision.Type) decision.Decision {
		t.Helper()
		d, err := s.Add(context.Background(), decision.Decision{Scope: scope, Value: value, Type: typ,
			Reason: "test", Origin: "operator:test", Until: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ban := add(decision.ScopeDevice, "Lost1", decision.TypeBan)
	add(decision.ScopeIP, "203.0.113.9", decision.TypeCaptcha)
	add(decision.ScopeUser, "mallory", decision.TypeBan)
	c, err := New(Options{Match: StoreMatch(s), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		req   Request
		allow bool
	}{
		{Request{User: "alice", Path: eas, Query: "Cmd=Sync&DeviceId=lost1"}, false},
		{Request{User: "alice", Path: eas, Query: "Cmd=Sync&DeviceId=other"}, true},
		{Request{User: `CORP\Mallory`, Path: "/ews/"}, false},
		{Request{IP: netip.MustParseAddr("203.0.113.9"), Path: "/owa/"}, true}, // captcha: not auth_request's
	}
	for _, tt := range tests {
		if v := c.Check(tt.req); v.Allow != tt.allow {
			t.Errorf("Check(%+v) = %+v, want allow %v", tt.req, v, tt.allow)
		}
	}
	now = ban.Until.Add(time.Second)
	if v := c.Check(tests[0].req); !v.Allow {
		t.Errorf("expired ban still refuses: %+v", v)
	}
}
