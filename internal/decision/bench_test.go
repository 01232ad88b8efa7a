package decision

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkCheck: one auth_request lookup (address, user, device) among
// 10,000 active ip decisions and 100 ranges.
func BenchmarkCheck(b *testing.B) {
	c := newClock()
	s, err := Open(context.Background(), Options{Policy: Policy{Enabled: true}, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	add := func(scope Scope, v string) {
		if _, err := s.Add(context.Background(), Decision{Scope: scope, Value: v, Origin: "operator:b", Until: c.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10000 {
		add(ScopeIP, netip.AddrFrom4([4]byte{203, byte(i >> 8), byte(i), 1}).String())
	}
	for i := range 100 {
		add(ScopeRange, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24).String())
	}
	ip := netip.MustParseAddr("192.0.2.1")
	now := c.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Check(now, ip, "zhangwei", "ApplF17ABCDEF12"); ok {
			b.Fatal("matched")
		}
	}
}
