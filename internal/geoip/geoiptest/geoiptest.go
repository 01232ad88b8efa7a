// Package geoiptest writes small ip2region database files for tests, in
// the layouts package geoip reads (see its ip2region.go for the layouts).
package geoiptest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
)

// Segment is one range of addresses and its region text, such as
// "中国|0|广东省|深圳市|电信".
type Segment struct {
	Start, End netip.Addr
	Text       string
}

// Seg is a Segment from address texts; it panics on a bad address.
func Seg(start, end, text string) Segment {
	return Segment{netip.MustParseAddr(start), netip.MustParseAddr(end), text}
}

// WriteDB writes segs (sorted, IPv4) in the old .db layout: the super
// block, the records (city id, text) and the index.
func WriteDB(path string, segs []Segment) error {
	buf := make([]byte, 8)
	ptrs := map[string]uint32{}
	for _, s := range segs {
		if !s.Start.Is4() || !s.End.Is4() {
			return fmt.Errorf("geoiptest: %v-%v: the .db layout holds IPv4 only", s.Start, s.End)
		}
		if _, ok := ptrs[s.Text]; !ok {
			ptrs[s.Text] = uint32(len(buf))
			buf = binary.LittleEndian.AppendUint32(buf, 7)
			buf = append(buf, s.Text...)
		}
	}
	first := uint32(len(buf))
	for _, s := range segs {
		buf = binary.LittleEndian.AppendUint32(buf, v4(s.Start))
		buf = binary.LittleEndian.AppendUint32(buf, v4(s.End))
		buf = binary.LittleEndian.AppendUint32(buf, ptrs[s.Text]|uint32(len(s.Text)+4)<<24)
	}
	binary.LittleEndian.PutUint32(buf, first)
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(buf))-12)
	return os.WriteFile(path, buf, 0o644)
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// cellEnd is the last address with the same first two bytes as a.
func cellEnd(a netip.Addr) netip.Addr {
	if a.Is4() {
		b := a.As4()
		return netip.AddrFrom4([4]byte{b[0], b[1], 255, 255})
	}
	b := a.As16()
	for i := 2; i < 16; i++ {
		b[i] = 255
	}
	return netip.AddrFrom16(b)
}

// WriteXDB writes segs (sorted, one IP version) in the xdb layout of the
// given version (2, or 3 with the IP version in the header), as
// ip2region's maker lays it out: segments cut where the first two bytes
// change, so that each vector index cell points at its own entries.
func WriteXDB(path string, version int, segs []Segment) error {
	const header, vector = 256, 256 * 256 * 8
	if len(segs) == 0 {
		return fmt.Errorf("geoiptest: no segments")
	}
	v6 := segs[0].Start.Is6()
	buf := make([]byte, header+vector)
	ptrs := map[string]uint32{}
	for _, s := range segs {
		if _, ok := ptrs[s.Text]; !ok {
			ptrs[s.Text] = uint32(len(buf))
			buf = append(buf, s.Text...)
		}
	}
	first := uint32(len(buf))
	type cell struct{ first, last uint32 }
	cells := map[[2]byte]*cell{}
	for _, s := range segs {
		if s.Start.Is6() != v6 || s.End.Is6() != v6 {
			return fmt.Errorf("geoiptest: %v-%v: one IP version per file", s.Start, s.End)
		}
		for start := s.Start; ; {
			end := cellEnd(start)
			if s.End.Less(end) {
				end = s.End
			}
			off := uint32(len(buf))
			if v6 {
				a, b := start.As16(), end.As16()
				buf = append(append(buf, a[:]...), b[:]...)
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, v4(start))
				buf = binary.LittleEndian.AppendUint32(buf, v4(end))
			}
			buf = binary.LittleEndian.AppendUint16(buf, uint16(len(s.Text)))
			buf = binary.LittleEndian.AppendUint32(buf, ptrs[s.Text])
			a := start.AsSlice()
			k := [2]byte{a[0], a[1]}
			if c := cells[k]; c != nil {
				c.last = off
			} else {
				cells[k] = &cell{off, off}
			}
			if end == s.End {
				break
			}
			start = end.Next()
		}
	}
	for k, c := range cells {
		v := header + (int(k[0])*256+int(k[1]))*8
		binary.LittleEndian.PutUint32(buf[v:], c.first)
		binary.LittleEndian.PutUint32(buf[v+4:], c.last)
	}
	entry := uint32(14)
	if v6 {
		entry = 38
	}
	h := buf[:header]
	binary.LittleEndian.PutUint16(h, uint16(version))
	binary.LittleEndian.PutUint16(h[2:], 1) // the vector index policy
	binary.LittleEndian.PutUint32(h[4:], 1700000000)
	binary.LittleEndian.PutUint32(h[8:], first)
	binary.LittleEndian.PutUint32(h[12:], uint32(len(buf))-entry)
	if version >= 3 {
		ipv := uint16(4)
		if v6 {
			ipv = 6
		}
		binary.LittleEndian.PutUint16(h[16:], ipv)
		binary.LittleEndian.PutUint16(h[18:], 4)
	}
	return os.WriteFile(path, buf, 0o644)
}
