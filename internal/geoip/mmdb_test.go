package geoip

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

// This file writes small MaxMind DB files for tests, so that the layouts
// the downloaded test database does not use (GeoIP2 City with coordinates,
// odd coordinate types) are covered too. It implements just enough of the
// MaxMind DB format: an IPv4 search tree with 32-bit records, and the map,
// string, double, float, uint16/32/64 and array data types.

// mmdbEncode appends the MaxMind DB encoding of v.
func mmdbEncode(b []byte, v any) []byte {
	ctrl := func(b []byte, typ, size int) []byte {
		var ext []byte
		if size >= 29 {
			if size >= 29+256 {
				panic("mmdbEncode: size too large for this test writer")
			}
			size, ext = 29, []byte{byte(size - 29)}
		}
		if typ <= 7 {
			return append(append(b, byte(typ<<5|size)), ext...)
		}
		return append(append(b, byte(size), byte(typ-7)), ext...)
	}
	uint := func(b []byte, typ int, u uint64, max int) []byte {
		var tmp [8]byte
		binary.BigEndian.PutUint64(tmp[:], u)
		n := 8
		for n > 0 && tmp[8-n] == 0 {
			n--
		}
		if n > max {
			panic("mmdbEncode: integer too large")
		}
		return append(ctrl(b, typ, n), tmp[8-n:]...)
	}
	switch v := v.(type) {
	case string:
		return append(ctrl(b, 2, len(v)), v...)
	case float64:
		b = ctrl(b, 3, 8)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	case float32:
		b = ctrl(b, 15, 4)
		return binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	case uint16:
		return uint(b, 5, uint64(v), 2)
	case uint32:
		return uint(b, 6, uint64(v), 4)
	case uint64:
		return uint(b, 9, v, 8)
	case []any:
		b = ctrl(b, 11, len(v))
		for _, e := range v {
			b = mmdbEncode(b, e)
		}
		return b
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = ctrl(b, 7, len(keys))
		for _, k := range keys {
			b = mmdbEncode(b, k)
			b = mmdbEncode(b, v[k])
		}
		return b
	}
	panic("mmdbEncode: unsupported type")
}

// writeMMDB writes an IPv4 database mapping each prefix to its record.
func writeMMDB(tb testing.TB, path, dbType string, records map[string]map[string]any) {
	tb.Helper()
	// Data section: one encoded record per prefix.
	var data []byte
	type leaf struct {
		p   netip.Prefix
		off int
	}
	var leaves []leaf
	prefixes := make([]string, 0, len(records))
	for p := range records {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, s := range prefixes {
		leaves = append(leaves, leaf{netip.MustParsePrefix(s), len(data)})
		data = mmdbEncode(data, records[s])
	}
	// Search tree: node i has children nodes[i][0] (bit 0) and nodes[i][1].
	// Values: >= 0 a node, -1 empty, -2-off a data offset.
	nodes := [][2]int{{-1, -1}}
	for _, l := range leaves {
		a := l.p.Addr().As4()
		ip := binary.BigEndian.Uint32(a[:])
		n := 0
		for i := range l.p.Bits() {
			bit := int(ip >> (31 - i) & 1)
			if i == l.p.Bits()-1 {
				nodes[n][bit] = -2 - l.off
				break
			}
			if nodes[n][bit] < 0 {
				nodes = append(nodes, [2]int{-1, -1})
				nodes[n][bit] = len(nodes) - 1
			}
			n = nodes[n][bit]
		}
	}
	count := len(nodes)
	var buf bytes.Buffer
	for _, nd := range nodes {
		for _, r := range nd {
			var v uint32
			switch {
			case r >= 0:
				v = uint32(r)
			case r == -1:
				v = uint32(count)
			default:
				v = uint32(count + 16 + (-2 - r))
			}
			binary.Write(&buf, binary.BigEndian, v)
		}
	}
	buf.Write(make([]byte, 16))
	buf.Write(data)
	buf.WriteString("\xab\xcd\xefMaxMind.com")
	buf.Write(mmdbEncode(nil, map[string]any{
		"node_count":                  uint32(count),
		"record_size":                 uint16(32),
		"ip_version":                  uint16(4),
		"database_type":               dbType,
		"languages":                   []any{"en"},
		"binary_format_major_version": uint16(2),
		"binary_format_minor_version": uint16(0),
		"build_epoch":                 uint64(1700000000),
		"description":                 map[string]any{"en": "vigil test database"},
	}))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		tb.Fatalf("written database does not open: %v", err)
	}
	defer r.Close()
	if err := r.Verify(); err != nil {
		tb.Fatalf("written database does not verify: %v", err)
	}
}

func TestLayouts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeMMDB(t, path, "GeoIP2-City", map[string]map[string]any{
		// GeoIP2 City layout with coordinates.
		"11.0.0.0/8": {
			"country":  map[string]any{"iso_code": "FR", "names": map[string]any{"en": "France"}},
			"location": map[string]any{"latitude": 43.2965, "longitude": 5.3698, "accuracy_radius": uint16(20)},
		},
		// GeoIP2 Country layout: no coordinates, centroid fallback.
		"12.0.0.0/8": {"country": map[string]any{"iso_code": "DE"}},
		// Anycast-style record: only registered_country.
		"13.0.0.0/8": {"registered_country": map[string]any{"iso_code": "JP"}},
		// ip-location-db city layout, lower-case code, float32 coordinates.
		"14.0.0.0/8": {"country_code": "it", "latitude": float32(45.5), "longitude": float32(9.25)},
		// Coordinates stored as strings.
		"15.0.0.0/8": {"country_code": "ES", "latitude": "41.39", "longitude": "2.17"},
		// Out-of-range coordinates: ignored, centroid instead.
		"16.0.0.0/8": {"country_code": "PT", "latitude": 123.0, "longitude": 5.0},
		// ZZ means unknown.
		"17.0.0.0/8": {"country_code": "ZZ"},
		// A well-formed code without a centroid: no coordinates.
		"23.0.0.0/8": {"country_code": "QM"},
		// Country code of the wrong type: unreadable, empty.
		"18.0.0.0/8": {"country_code": uint32(7)},
		// Coordinates but no country.
		"19.0.0.0/8": {"location": map[string]any{"latitude": -33.9, "longitude": 18.4}},
		// Bad code shape.
		"20.0.0.0/8": {"country": map[string]any{"iso_code": "USA"}},
		// Lat/lon of an unsupported type: centroid.
		"21.0.0.0/8": {"country_code": "NO", "latitude": []any{"x"}, "longitude": 1.0},
	})
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	centroid := func(cc string) Location {
		lat, lon, ok := Centroid(cc)
		if !ok {
			t.Fatalf("no centroid for %s", cc)
		}
		return Location{Country: cc, Lat: lat, Lon: lon, HasCoords: true}
	}
	tests := []struct {
		ip   string
		want Location
	}{
		{"11.1.2.3", Location{Country: "FR", Lat: 43.2965, Lon: 5.3698, HasCoords: true}},
		{"12.1.2.3", centroid("DE")},
		{"13.1.2.3", centroid("JP")},
		{"14.1.2.3", Location{Country: "IT", Lat: 45.5, Lon: 9.25, HasCoords: true}},
		{"15.1.2.3", Location{Country: "ES", Lat: 41.39, Lon: 2.17, HasCoords: true}},
		{"16.1.2.3", centroid("PT")},
		{"17.1.2.3", Location{}},
		{"23.1.2.3", Location{Country: "QM"}},
		{"18.1.2.3", Location{}},
		{"19.1.2.3", Location{Lat: -33.9, Lon: 18.4, HasCoords: true}},
		{"20.1.2.3", Location{}},
		{"21.1.2.3", centroid("NO")},
		{"22.1.2.3", Location{}}, // not in the database
		{"10.1.2.3", Location{}}, // private
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			for range 2 { // second time from the cache
				if got := db.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
					t.Fatalf("Lookup(%s) = %+v, want %+v", tt.ip, got, tt.want)
				}
			}
		})
	}
	if info := db.Info(); info.Type != "GeoIP2-City" || info.Built.Unix() != 1700000000 {
		t.Fatalf("Info = %+v", info)
	}
}

// TestCityLayouts reads regions, cities and operators from MaxMind's city
// and ASN layouts and ip-location-db's city layout, in the configured
// language.
func TestCityLayouts(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	writeMMDB(t, city, "GeoLite2-City", map[string]map[string]any{
		"11.0.0.0/8": {
			"country":      map[string]any{"iso_code": "CN"},
			"subdivisions": []any{map[string]any{"iso_code": "GD", "names": map[string]any{"en": "Guangdong", "zh-CN": "广东省"}}},
			"city":         map[string]any{"names": map[string]any{"en": "Shenzhen", "zh-CN": "深圳市"}},
			"location":     map[string]any{"latitude": 22.54, "longitude": 114.06},
		},
		// Names only in English: the English ones in any language.
		"12.0.0.0/8": {
			"country":      map[string]any{"iso_code": "US"},
			"subdivisions": []any{map[string]any{"names": map[string]any{"en": "California"}}},
			"city":         map[string]any{"names": map[string]any{"en": "San Jose"}},
		},
		// ip-location-db's city layout: city and state1 are strings.
		"13.0.0.0/8": {"country_code": "DE", "state1": "Berlin", "city": "Berlin", "latitude": 52.52, "longitude": 13.4},
	})
	asn := filepath.Join(dir, "asn.mmdb")
	writeMMDB(t, asn, "GeoLite2-ASN", map[string]map[string]any{
		"11.0.0.0/8": {"autonomous_system_number": uint32(4134), "autonomous_system_organization": "CHINANET"},
		"13.0.0.0/8": {"isp": "Deutsche Telekom"},
	})
	tests := []struct {
		lang, ip string
		want     Location
	}{
		{"", "11.1.1.1", Location{Country: "CN", Region: "Guangdong", City: "Shenzhen", ISP: "CHINANET", Lat: 22.54, Lon: 114.06, HasCoords: true}},
		{"zh-CN", "11.1.1.1", Location{Country: "CN", Region: "广东", City: "深圳", ISP: "CHINANET", Lat: 22.54, Lon: 114.06, HasCoords: true}},
		{"zh-CN", "12.1.1.1", centroidOf(Location{Country: "US", Region: "California", City: "San Jose"})},
		{"en", "13.1.1.1", Location{Country: "DE", Region: "Berlin", City: "Berlin", ISP: "Deutsche Telekom", Lat: 52.52, Lon: 13.4, HasCoords: true}},
	}
	for _, tt := range tests {
		db, err := OpenSources(Source{Path: city, Type: TypeMMDB, Language: tt.lang}, Source{Path: asn})
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%s in %q: %+v, want %+v", tt.ip, tt.lang, got, tt.want)
		}
		db.Close()
	}
}

// centroidOf is loc with its country's point.
func centroidOf(loc Location) Location { return withCentroid(loc) }
