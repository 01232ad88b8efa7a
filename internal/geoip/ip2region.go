package geoip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The ip2region layouts, from their public descriptions. All integers
// are little-endian.
//
// The old .db file (ip2region 1.x, as the npm package ip2region ships
// it): a super block of two uint32, the offsets of the first and the last
// index entry; then (ignored here) a header index for B-tree search; the
// region records; and the index: 12-byte entries, sorted, of the first
// and last IPv4 address of a range (uint32) and a uint32 holding the
// record's offset (low 24 bits) and length (high 8 bits). A record is a
// uint32 city id followed by the region text.
//
// The xdb file (ip2region 2.x): a 256-byte header (uint16 version 2 or
// 3, uint16 index policy, uint32 creation time, uint32 offsets of the
// first and the last segment index entry; version 3 adds uint16 IP
// version 4 or 6 and uint16 pointer size 4), then a vector index of
// 256x256 entries, one per value of the address's first two bytes, of two
// uint32: the offsets of the first and the last segment index entry that
// can hold such an address; then the region texts; then the segment
// index. A segment entry is the range's first and last address, a uint16
// text length and a uint32 text offset: 14 bytes for IPv4, whose
// addresses are uint32, and 38 for IPv6, whose addresses are 16 bytes in
// network order.
const (
	dbEntry       = 12
	xdbHeader     = 256
	xdbVector     = 256 * 256 * 8
	xdbEntry4     = 14
	xdbEntry6     = 38
	maxRegionText = 1024 // longer region texts are corrupt
	layoutSamples = 512  // records read to tell the region text layouts apart
)

// ip2regionReader is one version of an ip2region database.
type ip2regionReader struct {
	buf []byte
	inf Info
	xdb bool
	v6  bool
	// first and last are the offsets of the first and the last index
	// entry; entry is an entry's size.
	first, last, entry uint32
	// isoLayout: the records are "country|province|city|ISP|ISO code"
	// rather than "country|area|province|city|ISP".
	isoLayout bool
	// vector is built for a .db file as xdb has it in the file: for each
	// value of an address's first two bytes, the offsets of the first and
	// the last index entry that can hold such an address (0, 0: none).
	vector []uint32
	cache  sync.Map // record offset (uint32) -> Location
	cached atomic.Int64
}

func u16(b []byte, off uint32) uint32 { return uint32(binary.LittleEndian.Uint16(b[off:])) }
func u32(b []byte, off uint32) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// openIP2Region recognises the layout and checks the file's structure.
func openIP2Region(s Source, buf []byte) (*ip2regionReader, error) {
	r := &ip2regionReader{buf: buf, inf: Info{Path: s.Path, Format: TypeIP2Region, Size: int64(len(buf))}}
	xerr := r.initXDB()
	if xerr != nil {
		if derr := r.initDB(); derr != nil {
			return nil, fmt.Errorf("not an ip2region database: as xdb: %v; as .db: %v", xerr, derr)
		}
	}
	r.isoLayout = r.detectLayout()
	return r, nil
}

// initXDB reads an xdb header.
func (r *ip2regionReader) initXDB() error {
	b := r.buf
	if len(b) < xdbHeader+xdbVector {
		return errors.New("shorter than the header and the vector index")
	}
	ver, policy := u16(b, 0), u16(b, 2)
	r.entry = xdbEntry4
	switch ver {
	case 2:
	case 3:
		switch ipv, ptr := u16(b, 16), u16(b, 18); {
		case ptr != 4:
			return fmt.Errorf("pointer size %d is not supported (only 4)", ptr)
		case ipv == 6:
			r.v6, r.entry = true, xdbEntry6
		case ipv != 4:
			return fmt.Errorf("IP version %d", ipv)
		}
	default:
		return fmt.Errorf("version %d is not 2 or 3", ver)
	}
	if policy != 1 {
		return fmt.Errorf("index policy %d is not the vector index (1)", policy)
	}
	r.first, r.last = u32(b, 8), u32(b, 12)
	if err := r.checkIndex(xdbHeader + xdbVector); err != nil {
		return err
	}
	r.xdb = true
	r.inf.Type = fmt.Sprintf("xdb v%d IPv4", ver)
	if r.v6 {
		r.inf.Type = fmt.Sprintf("xdb v%d IPv6", ver)
	}
	if t := u32(b, 4); t != 0 {
		r.inf.Built = time.Unix(int64(t), 0).UTC()
	}
	return nil
}

// initDB reads a .db super block.
func (r *ip2regionReader) initDB() error {
	if len(r.buf) < 8 {
		return errors.New("shorter than its super block")
	}
	r.xdb, r.v6, r.entry = false, false, dbEntry
	r.first, r.last = u32(r.buf, 0), u32(r.buf, 4)
	if err := r.checkIndex(8); err != nil {
		return err
	}
	r.inf.Type = "db"
	r.buildVector()
	return nil
}

// buildVector indexes a .db file's entries by the first two bytes of the
// addresses they hold, so that a lookup searches a few entries rather
// than all of them.
func (r *ip2regionReader) buildVector() {
	r.vector = make([]uint32, 2*256*256)
	for off := r.first; off <= r.last; off += r.entry {
		start, end := u32(r.buf, off)>>16, u32(r.buf, off+4)>>16
		if end < start {
			continue // a corrupt entry: the search will not find it
		}
		for c := start; c <= end; c++ {
			if r.vector[2*c] == 0 {
				r.vector[2*c] = off
			}
			r.vector[2*c+1] = off
		}
	}
}

// checkIndex checks that the index lies after from and within the file.
func (r *ip2regionReader) checkIndex(from uint32) error {
	if r.first < from || r.last < r.first || uint64(r.last)+uint64(r.entry) > uint64(len(r.buf)) || (r.last-r.first)%r.entry != 0 {
		return fmt.Errorf("index %d..%d does not fit the file (%d bytes)", r.first, r.last, len(r.buf))
	}
	return nil
}

func (r *ip2regionReader) info() Info { return r.inf }

// detectLayout samples records spread over the index: the newer data
// ends every record with an ISO code, the older one with an ISP ("0"
// when unknown) that is almost never two capital letters.
func (r *ip2regionReader) detectLayout() bool {
	n := (r.last-r.first)/r.entry + 1
	step := max(1, n/layoutSamples)
	iso, total := 0, 0
	for i := uint32(0); i < n; i += step {
		text, ok := r.text(r.first + i*r.entry)
		if !ok {
			continue
		}
		total++
		if f := strings.Split(text, "|"); len(f) == 5 && isCode(f[4]) {
			iso++
		}
	}
	return total > 0 && iso*2 > total
}

// isCode reports whether s is two ASCII capital letters.
func isCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// text returns the region text of the index entry at off.
func (r *ip2regionReader) text(off uint32) (string, bool) {
	ptr, n, ok := r.record(off)
	if !ok {
		return "", false
	}
	return string(r.buf[ptr : ptr+n]), true
}

// record returns the offset and length of the region text of the index
// entry at off, checked against the file.
func (r *ip2regionReader) record(off uint32) (ptr, n uint32, ok bool) {
	b := r.buf
	if r.xdb {
		al := uint32(4)
		if r.v6 {
			al = 16
		}
		n, ptr = u16(b, off+2*al), u32(b, off+2*al+2)
	} else {
		v := u32(b, off+8)
		if v>>24 < 4 {
			return 0, 0, false
		}
		// The text follows a 4-byte city id.
		ptr, n = (v&0x00FFFFFF)+4, v>>24-4
	}
	if n == 0 || n > maxRegionText || uint64(ptr)+uint64(n) > uint64(len(b)) {
		return 0, 0, false
	}
	return ptr, n, true
}

func (r *ip2regionReader) lookup(ip netip.Addr) Location {
	if ip.Is4() == r.v6 {
		return Location{} // the file holds the other IP version
	}
	off, ok := r.find(ip)
	if !ok {
		return Location{}
	}
	ptr, n, ok := r.record(off)
	if !ok {
		return Location{}
	}
	if v, ok := r.cache.Load(ptr); ok {
		return v.(Location)
	}
	loc := parseRegion(string(r.buf[ptr:ptr+n]), r.isoLayout)
	if r.cached.Load() < maxCached {
		if _, loaded := r.cache.LoadOrStore(ptr, loc); !loaded {
			r.cached.Add(1)
		}
	}
	return loc
}

// find returns the offset of the index entry whose range holds ip.
func (r *ip2regionReader) find(ip netip.Addr) (uint32, bool) {
	b := r.buf
	var lo, hi uint32
	a16 := ip.As16()
	key := a16[:]
	if ip.Is4() {
		key = key[12:]
	}
	c := uint32(key[0])<<8 | uint32(key[1])
	if r.xdb {
		lo, hi = u32(b, xdbHeader+c*8), u32(b, xdbHeader+c*8+4)
	} else {
		lo, hi = r.vector[2*c], r.vector[2*c+1]
	}
	if lo == 0 || hi == 0 || lo < r.first || hi > r.last || hi < lo || (hi-lo)%r.entry != 0 || (lo-r.first)%r.entry != 0 {
		return 0, false // no entry for these addresses, or a corrupt vector cell
	}
	// Binary search over entries lo..hi (inclusive), by entry number.
	l, h := 0, int((hi-lo)/r.entry)
	for l <= h {
		m := int(uint(l+h) >> 1)
		off := lo + uint32(m)*r.entry
		switch {
		case r.compare(key, off) < 0:
			h = m - 1
		case r.compare(key, off+r.width()) > 0:
			l = m + 1
		default:
			return off, true
		}
	}
	return 0, false
}

// width is the size of one address in the index.
func (r *ip2regionReader) width() uint32 {
	if r.v6 {
		return 16
	}
	return 4
}

// compare compares the address key with the one stored at off.
func (r *ip2regionReader) compare(key []byte, off uint32) int {
	if r.v6 {
		return bytes.Compare(key, r.buf[off:off+16])
	}
	a, b := binary.BigEndian.Uint32(key), u32(r.buf, off)
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// territories are the province-level names of Hong Kong, Macao and
// Taiwan, which get their own country codes.
var territories = map[string]string{"香港": "HK", "澳门": "MO", "台湾": "TW"}

// parseRegion reads a region text, "0" (or nothing) standing for
// unknown. Three layouts are in use: "country|area|province|city|ISP"
// (the .db and older xdb data), "country|province|city|ISP" (4 fields) and
// "country|province|city|ISP|ISO code" (isoLayout: the newer xdb data).
func parseRegion(text string, isoLayout bool) Location {
	var f [5]string
	n := 0
	for text != "" && n < len(f) {
		var v string
		v, text, _ = strings.Cut(text, "|")
		if v = strings.TrimSpace(v); v != "0" {
			f[n] = v
		}
		n++
	}
	name, region, city, isp, code := f[0], f[2], f[3], f[4], ""
	switch {
	case n == 4:
		region, city, isp = f[1], f[2], f[3]
	case isoLayout:
		region, city, isp, code = f[1], f[2], f[3], normCountry(f[4])
	}
	if code == "" {
		code = countryCode(name)
	}
	if t, ok := territories[trimRegion(region)]; ok && (code == "CN" || code == t) {
		code, region = t, ""
	}
	if chinese(code) {
		region, city = trimRegion(region), trimCity(city)
	}
	return Location{Country: code, Region: region, City: city, ISP: isp}
}
