package lists

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestIPTableRandom compares the table with a linear scan over random,
// heavily nested prefixes with mixed expiries.
func TestIPTableRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := testNow.UnixNano()
	expiries := []time.Time{{}, testNow.Add(-time.Hour), testNow.Add(time.Hour)}
	randAddr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			b[2] = byte(rng.IntN(2))
			for i := 14; i < 16; i++ {
				b[i] = byte(rng.IntN(256))
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(2)), byte(rng.IntN(4)), byte(rng.IntN(256))})
	}
	for round := range 200 {
		var entries []Entry
		n := 1 + rng.IntN(40)
		for range n {
			v6 := rng.IntN(3) == 0
			a := randAddr(v6)
			bits := 8 + rng.IntN(25)
			if v6 {
				bits = 100 + rng.IntN(29)
			}
			if rng.IntN(50) == 0 { // the whole space now and then
				bits = 0
			}
			p := netip.PrefixFrom(a, bits).Masked()
			entries = append(entries, Entry{Value: ipValue(p), Expires: expiries[rng.IntN(len(expiries))]})
		}
		tab := newIPTable(entries)
		for range 300 {
			a := randAddr(rng.IntN(3) == 0)
			want := false
			for _, e := range entries {
				p, _ := parseIP(e.Value)
				if p.Contains(a) && (e.Expires.IsZero() || now < e.Expires.UnixNano()) {
					want = true
				}
			}
			x, ok := tab.lookup(a)
			got := ok && (x == never || now < x)
			if got != want {
				t.Fatalf("round %d: lookup(%s) = %v, want %v; entries %+v", round, a, got, want, entries)
			}
			if m := netip.AddrFrom16(a.As16()); a.Is4() {
				if x2, ok2 := tab.lookup(m); ok2 != ok || x2 != x {
					t.Fatalf("mapped %s differs", m)
				}
			}
		}
	}
}

func TestIPTableEdges(t *testing.T) {
	tests := []struct {
		entries []string
		in, out []string
		ranges  int
	}{
		{[]string{"0.0.0.0/0"}, []string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"}, []string{"::", "::1", "1::"}, 1},
		{[]string{"::/0"}, []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1"}, []string{"1.2.3.4", "::ffff:1.2.3.4"}, 1},
		{[]string{"::/0", "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"8.8.8.8"}, 1},
		{[]string{"::ffff:0:0/96"}, []string{"1.2.3.4", "::ffff:255.255.255.255"}, []string{"::1"}, 1},
		{[]string{"255.255.255.255", "0.0.0.0"}, []string{"255.255.255.255", "0.0.0.0"}, []string{"255.255.255.254", "0.0.0.1"}, 2},
		{[]string{"10.0.0.0/9", "10.128.0.0/9"}, []string{"10.0.0.0", "10.127.255.255", "10.128.0.0", "10.255.255.255"}, []string{"9.255.255.255", "11.0.0.0"}, 1},
		{[]string{"10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/24"}, []string{"10.0.0.1", "10.200.0.1"}, []string{"11.0.0.0"}, 1},
		{nil, nil, []string{"1.2.3.4", "::1"}, 0},
	}
	for _, tt := range tests {
		var es []Entry
		for _, v := range tt.entries {
			p, err := parseIP(v)
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, Entry{Value: ipValue(p)})
		}
		tab := newIPTable(es)
		for _, a := range tt.in {
			if _, ok := tab.lookup(netip.MustParseAddr(a)); !ok {
				t.Errorf("%v: %s not found", tt.entries, a)
			}
		}
		for _, a := range tt.out {
			if _, ok := tab.lookup(netip.MustParseAddr(a)); ok {
				t.Errorf("%v: %s found", tt.entries, a)
			}
		}
		if tab.len() != tt.ranges {
			t.Errorf("%v: %d ranges, want %d", tt.entries, tab.len(), tt.ranges)
		}
	}
}
