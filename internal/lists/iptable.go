package lists

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// ipTable answers "which entry covers this address, until when" for a
// set of possibly nested prefixes. It holds sorted, disjoint address
// ranges, each with the latest expiry of the entries covering it, so a
// lookup is one binary search. IPv4 ranges sit in a uint32 table for
// cache-friendly searches, IPv6 ranges in a 128-bit one.
type ipTable struct {
	v4start, v4end []uint32
	v4exp          []int64
	v6start, v6end []u128
	v6exp          []int64
}

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) add1() u128 {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

func (a u128) sub1() u128 {
	lo := a.lo - 1
	hi := a.hi
	if a.lo == 0 {
		hi--
	}
	return u128{hi, lo}
}

// maxU128 is the last address.
var maxU128 = u128{^uint64(0), ^uint64(0)}

func addrU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// prefixRange returns the first and last address of p in the IPv6 space
// (IPv4 prefixes as IPv4-mapped).
func prefixRange(p netip.Prefix) (first, last u128) {
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	first = addrU128(p.Masked().Addr())
	// Host mask: the low 128-bits bits set.
	var host u128
	switch {
	case bits == 0:
		host = maxU128
	case bits < 64:
		host = u128{^uint64(0) >> bits, ^uint64(0)}
	case bits < 128:
		host = u128{0, ^uint64(0) >> (bits - 64)}
	}
	return first, u128{first.hi | host.hi, first.lo | host.lo}
}

// span is a range with an expiry, used while building.
type span struct {
	first, last u128
	exp         int64
}

// newIPTable builds the table for entries of an ip list. IPv4 entries
// match IPv4 addresses (and their IPv4-mapped IPv6 forms), IPv6 entries
// IPv6 addresses: ::/0 does not cover IPv4.
func newIPTable(entries []Entry) *ipTable {
	v4 := make([]span, 0, len(entries))
	var v6 []span
	for _, e := range entries {
		p, err := parseIP(e.Value)
		if err != nil {
			continue // normalized entries always parse
		}
		f, l := prefixRange(p)
		sp := span{f, l, expiryNanos(e.Expires)}
		if p.Addr().Is4() {
			v4 = append(v4, sp)
		} else {
			v6 = append(v6, sp)
		}
	}
	d4, d6 := disjoint(v4), disjoint(v6)
	t := &ipTable{
		v4start: make([]uint32, len(d4)),
		v4end:   make([]uint32, len(d4)),
		v4exp:   make([]int64, len(d4)),
		v6start: make([]u128, len(d6)),
		v6end:   make([]u128, len(d6)),
		v6exp:   make([]int64, len(d6)),
	}
	for i, s := range d4 {
		t.v4start[i], t.v4end[i], t.v4exp[i] = uint32(s.first.lo), uint32(s.last.lo), s.exp
	}
	for i, s := range d6 {
		t.v6start[i], t.v6end[i], t.v6exp[i] = s.first, s.last, s.exp
	}
	return t
}

// disjoint turns prefix ranges into sorted, disjoint ranges, each with
// the latest expiry of the prefixes covering it; adjacent ranges with the
// same expiry are merged.
func disjoint(ps []span) []span {
	// Prefixes are either nested or disjoint. Sorted by first address and,
	// for equal ones, widest first, each prefix lies inside every prefix
	// on the stack, whose ranges it starts in.
	slices.SortFunc(ps, func(a, b span) int {
		if c := a.first.cmp(b.first); c != 0 {
			return c
		}
		return b.last.cmp(a.last)
	})
	var (
		out   = make([]span, 0, len(ps))
		stack []span
		next  u128 // first address not yet emitted
		done  bool // everything up to the top of the space was emitted
	)
	emit := func(first, last u128, exp int64) {
		if last.less(first) {
			return
		}
		if n := len(out); n > 0 && out[n-1].exp == exp && out[n-1].last.add1() == first {
			out[n-1].last = last
			return
		}
		out = append(out, span{first, last, exp})
	}
	// closeTop emits the rest of the top of the stack and pops it.
	closeTop := func() {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if done || t.last.less(next) {
			return
		}
		emit(next, t.last, t.exp)
		if t.last == maxU128 {
			done = true
		} else {
			next = t.last.add1()
		}
	}
	for _, p := range ps {
		for len(stack) > 0 && stack[len(stack)-1].last.less(p.first) {
			closeTop()
		}
		if n := len(stack); n > 0 {
			top := stack[n-1]
			if next.less(p.first) {
				emit(next, p.first.sub1(), top.exp)
			}
			p.exp = max(p.exp, top.exp)
		}
		// Everything before p.first is emitted or uncovered.
		next = p.first
		stack = append(stack, p)
	}
	for len(stack) > 0 {
		closeTop()
	}
	return out
}

// lookup returns the expiry of the entries covering a, if any do.
func (t *ipTable) lookup(a netip.Addr) (exp int64, ok bool) {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		x := binary.BigEndian.Uint32(b[:])
		lo, hi := 0, len(t.v4start)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if t.v4start[m] <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 || x > t.v4end[lo-1] {
			return 0, false
		}
		return t.v4exp[lo-1], true
	}
	if !a.IsValid() {
		return 0, false
	}
	x := addrU128(a)
	lo, hi := 0, len(t.v6start)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !x.less(t.v6start[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 || t.v6end[lo-1].less(x) {
		return 0, false
	}
	return t.v6exp[lo-1], true
}

// len is the number of ranges.
func (t *ipTable) len() int { return len(t.v4start) + len(t.v6start) }
