package geoip

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-soc/vigil/internal/geoip/geoiptest"
)

// ip2regionTestDB is where scripts/fetch-ip2region-testdb.sh puts the
// .db file of the npm package ip2region.
func ip2regionTestDB(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("VIGIL_IP2REGION_TESTDB")
	if p == "" {
		p = "/var/cache/vigil-test/ip2region.db"
	}
	if _, err := os.Stat(p); err != nil {
		skip(tb, "no ip2region test database at %s (run scripts/fetch-ip2region-testdb.sh or set VIGIL_IP2REGION_TESTDB): %v", p, err)
	}
	return p
}

// segment is one range of an ip2region file and its region text.
type segment = geoiptest.Segment

var seg = geoiptest.Seg

func writeDB(tb testing.TB, path string, segs []segment) {
	tb.Helper()
	if err := geoiptest.WriteDB(path, segs); err != nil {
		tb.Fatal(err)
	}
}

func writeXDB(tb testing.TB, path string, ver int, segs []segment) {
	tb.Helper()
	if err := geoiptest.WriteXDB(path, ver, segs); err != nil {
		tb.Fatal(err)
	}
}

// dbSegments reads every segment of a .db file.
func dbSegments(tb testing.TB, path string) []segment {
	tb.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := openIP2Region(Source{Path: path}, buf)
	if err != nil {
		tb.Fatal(err)
	}
	var segs []segment
	for off := r.first; off <= r.last; off += r.entry {
		text, ok := r.text(off)
		if !ok {
			tb.Fatalf("entry at %d: no text", off)
		}
		var s, e [4]byte
		binary.BigEndian.PutUint32(s[:], u32(buf, off))
		binary.BigEndian.PutUint32(e[:], u32(buf, off+4))
		segs = append(segs, segment{Start: netip.AddrFrom4(s), End: netip.AddrFrom4(e), Text: text})
	}
	return segs
}

// place is the part of a Location that ip2region answers.
type place struct{ Country, Region, City, ISP string }

func placeOf(l Location) place { return place{l.Country, l.Region, l.City, l.ISP} }

// TestIP2RegionDB looks up well-known addresses in the npm package's .db
// file.
func TestIP2RegionDB(t *testing.T) {
	db, err := OpenSources(Source{Path: ip2regionTestDB(t), Type: TypeIP2Region})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if info := db.Info(); info.Format != TypeIP2Region || info.Type != "db" || info.Size != 8733094 {
		t.Fatalf("Info = %+v", info)
	}
	tests := []struct {
		ip   string
		want place
	}{
		{"202.96.128.86", place{"CN", "广东", "广州", "电信"}}, // Guangdong Telecom's DNS
		{"120.196.165.24", place{"CN", "广东", "深圳", "移动"}},
		{"58.251.30.115", place{"CN", "广东", "深圳", "联通"}},
		{"114.114.114.114", place{"CN", "江苏", "南京", ""}},
		{"1.2.4.8", place{"CN", "北京", "北京", ""}},
		{"61.128.128.68", place{"CN", "重庆", "重庆", "电信"}},
		{"202.102.128.68", place{"CN", "山东", "济南", "联通"}},
		{"223.5.5.5", place{"CN", "浙江", "杭州", "阿里云"}},
		{"39.128.0.1", place{"CN", "云南", "昆明", "移动"}},
		{"203.198.1.1", place{"HK", "", "", "电讯盈科"}},
		{"202.175.3.3", place{"MO", "", "", "澳门电讯"}},
		{"168.95.1.1", place{"TW", "", "", "中华电信"}},
		{"8.8.8.8", place{"US", "", "", "Level3"}},
		{"1.1.1.1", place{"AU", "", "", ""}},
		{"::ffff:202.96.128.86", place{"CN", "广东", "广州", "电信"}},
		{"10.1.2.3", place{}},             // private
		{"2001:4860:4860::8888", place{}}, // the .db holds IPv4 only
	}
	for _, tt := range tests {
		got := db.Lookup(netip.MustParseAddr(tt.ip))
		if placeOf(got) != tt.want {
			t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, got, tt.want)
		}
		if tt.want.Country != "" && !got.HasCoords {
			t.Errorf("Lookup(%s): no country point", tt.ip)
		}
	}
}

// nonCountries are the names in ip2region's data that are no country.
var nonCountries = map[string]bool{"欧洲": true, "亚太地区": true, "非洲地区": true, "北美地区": true, "安的列斯": true, "0": true}

// provinces are the province-level names of mainland China, as Location
// has them.
var provinces = strings.Fields(`北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南
	湖北 湖南 广东 海南 四川 贵州 云南 陕西 甘肃 青海 内蒙古 广西 西藏 宁夏 新疆`)

// TestIP2RegionEveryRecord reads every record of the test database: each
// country name has a code and the code a point, each Chinese province is
// one of the 31.
func TestIP2RegionEveryRecord(t *testing.T) {
	path := ip2regionTestDB(t)
	segs := dbSegments(t, path)
	known := map[string]bool{"": true}
	for _, p := range provinces {
		known[p] = true
	}
	unmapped, noPoint, badRegion := map[string]int{}, map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	for _, s := range segs {
		if seen[s.Text] {
			continue
		}
		seen[s.Text] = true
		loc := parseRegion(s.Text, false)
		name, _, _ := strings.Cut(s.Text, "|")
		switch {
		case loc.Country == "" && !nonCountries[name]:
			unmapped[name]++
		case loc.Country != "":
			if _, _, ok := Centroid(loc.Country); !ok {
				noPoint[loc.Country]++
			}
		}
		if loc.Country == "CN" && !known[loc.Region] {
			badRegion[loc.Region]++
		}
	}
	if len(unmapped) > 0 || len(noPoint) > 0 || len(badRegion) > 0 {
		t.Fatalf("country names without a code: %v; codes without a point: %v; unknown provinces: %v", unmapped, noPoint, badRegion)
	}
	t.Logf("%d segments, %d distinct records", len(segs), len(seen))
}

// TestXDBMatchesDB writes the test database's segments as xdb files
// (version 2, and 3 for IPv4) and checks that every lookup answers as
// the .db file does.
func TestXDBMatchesDB(t *testing.T) {
	path := ip2regionTestDB(t)
	segs := dbSegments(t, path)
	db, err := OpenSources(Source{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	ips := make([]netip.Addr, 0, 60000)
	for range 50000 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		ips = append(ips, netip.AddrFrom4(b))
	}
	for i := 0; i < len(segs); i += 97 { // the edges of segments
		ips = append(ips, segs[i].Start, segs[i].End)
	}
	for _, ver := range []int{2, 3} {
		xdb := filepath.Join(t.TempDir(), "ip2region.xdb")
		writeXDB(t, xdb, ver, segs)
		x, err := OpenSources(Source{Path: xdb, Type: TypeAuto})
		if err != nil {
			t.Fatal(err)
		}
		if info := x.Info(); info.Type != map[int]string{2: "xdb v2 IPv4", 3: "xdb v3 IPv4"}[ver] || info.Built.Unix() != 1700000000 {
			t.Fatalf("Info = %+v", info)
		}
		for _, ip := range ips {
			if a, b := db.Lookup(ip), x.Lookup(ip); a != b {
				t.Fatalf("xdb v%d: Lookup(%s) = %+v, .db has %+v", ver, ip, b, a)
			}
		}
		x.Close()
	}
}

// TestXDBLayouts reads the newer region texts (with an ISO code, or
// without the area field) and an IPv6 xdb file.
func TestXDBLayouts(t *testing.T) {
	dir := t.TempDir()
	iso := filepath.Join(dir, "iso.xdb")
	writeXDB(t, iso, 3, []segment{
		seg("1.0.0.0", "1.0.0.255", "Australia|Queensland|Brisbane|0|AU"),
		seg("1.0.1.0", "1.0.3.255", "中国|福建省|福州市|电信|CN"),
		seg("1.0.4.0", "1.1.255.255", "中国|香港特别行政区|0|电讯盈科|CN"),
		seg("58.251.0.0", "58.251.255.255", "中国|广东省|深圳市|联通|CN"),
		seg("59.0.0.0", "59.0.0.255", "中国|广西壮族自治区|南宁市|移动|CN"),
		seg("60.0.0.0", "60.0.0.255", "0|0|0|0|0"),
	})
	four := filepath.Join(dir, "four.xdb")
	writeXDB(t, four, 2, []segment{
		seg("1.0.1.0", "1.0.3.255", "中国|福建省|福州市|电信"),
		seg("1.0.4.0", "1.0.7.255", "澳大利亚|维多利亚|墨尔本|0"),
		seg("36.1.0.0", "36.1.255.255", "中国|北京市|北京市|移动"),
	})
	v6 := filepath.Join(dir, "v6.xdb")
	writeXDB(t, v6, 3, []segment{
		seg("2001:4860::", "2001:4860:ffff:ffff:ffff:ffff:ffff:ffff", "United States|California|Mountain View|Google|US"),
		seg("240e:3b7::", "240e:3b7:ffff:ffff:ffff:ffff:ffff:ffff", "中国|广东省|深圳市|电信|CN"),
		seg("2409:8a00::", "2409:8a01:ffff:ffff:ffff:ffff:ffff:ffff", "中国|新疆维吾尔自治区|乌鲁木齐市|移动|CN"),
	})
	tests := []struct {
		path, ip string
		want     place
	}{
		{iso, "1.0.0.7", place{"AU", "Queensland", "Brisbane", ""}},
		{iso, "1.0.2.9", place{"CN", "福建", "福州", "电信"}},
		{iso, "1.1.9.9", place{"HK", "", "", "电讯盈科"}},
		{iso, "58.251.30.115", place{"CN", "广东", "深圳", "联通"}},
		{iso, "59.0.0.1", place{"CN", "广西", "南宁", "移动"}},
		{iso, "60.0.0.1", place{}},
		{iso, "61.0.0.1", place{}}, // no segment
		{iso, "1.0.0.255", place{"AU", "Queensland", "Brisbane", ""}},
		{four, "1.0.2.1", place{"CN", "福建", "福州", "电信"}},
		{four, "1.0.5.1", place{"AU", "维多利亚", "墨尔本", ""}},
		{four, "36.1.2.3", place{"CN", "北京", "北京", "移动"}},
		{v6, "2001:4860:4860::8888", place{"US", "California", "Mountain View", "Google"}},
		{v6, "240e:3b7:3273:51d0:13f9:bf0:3db1:aa3f", place{"CN", "广东", "深圳", "电信"}},
		{v6, "2409:8a01:1::1", place{"CN", "新疆", "乌鲁木齐", "移动"}},
		{v6, "2409:8a02::1", place{}},
		{v6, "8.8.8.8", place{}}, // an IPv6 file knows no IPv4 address
	}
	for _, tt := range tests {
		db, err := Open(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := placeOf(db.Lookup(netip.MustParseAddr(tt.ip))); got != tt.want {
			t.Errorf("%s: Lookup(%s) = %+v, want %+v", filepath.Base(tt.path), tt.ip, got, tt.want)
		}
		db.Close()
	}
}

func TestParseRegion(t *testing.T) {
	tests := []struct {
		text string
		iso  bool
		want place
	}{
		{"中国|0|广东省|深圳市|电信", false, place{"CN", "广东", "深圳", "电信"}},
		{"中国|0|内蒙古|锡林郭勒|移动", false, place{"CN", "内蒙古", "锡林郭勒", "移动"}},
		{"中国|0|北京|北京市|联通", false, place{"CN", "北京", "北京", "联通"}},
		{"中国|0|台湾省|台北|0", false, place{"TW", "", "台北", ""}},
		{"中国|0|0|0|0", false, place{"CN", "", "", ""}},
		{"美国|0|加利福尼亚|旧金山|美国电话电报", false, place{"US", "加利福尼亚", "旧金山", "美国电话电报"}},
		{"欧洲|0|0|0|0", false, place{}},
		{"0|0|0|0|0", false, place{}},
		{"", false, place{}},
		{"中国|0|0|0|XL", false, place{"CN", "", "", "XL"}},
		{"中国|广东省|深圳市|联通|CN", true, place{"CN", "广东", "深圳", "联通"}},
		{"中国|澳门特别行政区|0|0|MO", true, place{"MO", "", "", ""}},
		{"Nowhere|X|Y|Z|zz", true, place{"", "X", "Y", "Z"}},
		{"中国|福建省|福州市|电信", false, place{"CN", "福建", "福州", "电信"}},
		{"中国|0|广东省|深圳市|电信|extra|fields", false, place{"CN", "广东", "深圳", "电信"}},
		{" 中国 | 0 | 广东省 | 沙市 | 电信 ", false, place{"CN", "广东", "沙市", "电信"}},
	}
	for _, tt := range tests {
		if got := placeOf(parseRegion(tt.text, tt.iso)); got != tt.want {
			t.Errorf("parseRegion(%q, %v) = %+v, want %+v", tt.text, tt.iso, got, tt.want)
		}
	}
}

// TestMerge consults an ip2region file and a MaxMind-format city
// database in both orders: the first answer wins per field, and a
// database that names another country adds nothing.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	r2r := filepath.Join(dir, "r.db")
	writeDB(t, r2r, []segment{
		seg("11.0.0.0", "11.255.255.255", "中国|0|广东省|深圳市|电信"),
		seg("12.0.0.0", "12.255.255.255", "美国|0|0|0|0"),
		seg("13.0.0.0", "13.255.255.255", "中国|0|广东省|0|移动"),
	})
	mm := filepath.Join(dir, "city.mmdb")
	writeMMDB(t, mm, "GeoLite2-City", map[string]map[string]any{
		"11.0.0.0/8": {"country": map[string]any{"iso_code": "CN"}, "city": map[string]any{"names": map[string]any{"en": "Guangzhou"}},
			"subdivisions": []any{map[string]any{"names": map[string]any{"en": "Guangdong"}}}, "location": map[string]any{"latitude": 23.1, "longitude": 113.3}},
		"12.0.0.0/8": {"country": map[string]any{"iso_code": "DE"}, "city": map[string]any{"names": map[string]any{"en": "Berlin"}}},
		"13.0.0.0/8": {"country": map[string]any{"iso_code": "CN"}, "location": map[string]any{"latitude": 23.1, "longitude": 113.3},
			"autonomous_system_organization": "China Mobile"},
		"14.0.0.0/8": {"country": map[string]any{"iso_code": "JP"}},
	})
	cn := centroidOf(Location{Country: "CN"})
	tests := []struct {
		first, second string
		ip            string
		want          Location
	}{
		// ip2region first: its names; the city database's city is of
		// another region (English names), its point too.
		{r2r, mm, "11.1.1.1", Location{Country: "CN", Region: "广东", City: "深圳", ISP: "电信", Lat: cn.Lat, Lon: cn.Lon, HasCoords: true}},
		{mm, r2r, "11.1.1.1", Location{Country: "CN", Region: "Guangdong", City: "Guangzhou", ISP: "电信", Lat: 23.1, Lon: 113.3, HasCoords: true}},
		// Another country: the second says nothing.
		{r2r, mm, "12.1.1.1", centroidOf(Location{Country: "US"})},
		{mm, r2r, "12.1.1.1", centroidOf(Location{Country: "DE", City: "Berlin"})},
		// The city database has no region: its point and operator fill in.
		{r2r, mm, "13.1.1.1", Location{Country: "CN", Region: "广东", ISP: "移动", Lat: 23.1, Lon: 113.3, HasCoords: true}},
		// Only one knows the address.
		{r2r, mm, "14.1.1.1", centroidOf(Location{Country: "JP"})},
	}
	for _, tt := range tests {
		db, err := OpenSources(Source{Path: tt.first}, Source{Path: tt.second})
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%s then %s: Lookup(%s) = %+v, want %+v", filepath.Base(tt.first), filepath.Base(tt.second), tt.ip, got, tt.want)
		}
		if n := len(db.Infos()); n != 2 {
			t.Errorf("Infos: %d databases", n)
		}
		db.Close()
	}
}

func TestIP2RegionOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	writeDB(t, good, []segment{seg("1.0.0.0", "1.0.0.255", "中国|0|广东省|深圳市|电信")})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	xdbBuf := func(mod func([]byte)) []byte {
		p := filepath.Join(dir, "x.xdb")
		writeXDB(t, p, 3, []segment{seg("1.0.0.0", "1.0.0.255", "中国|广东省|深圳市|电信|CN")})
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mod(b)
		return b
	}
	tests := []struct {
		name, typ string
		data      []byte
		want      string
	}{
		{"empty", "ip2region", nil, "not an ip2region database"},
		{"garbage", "auto", []byte("not a database at all"), "neither a MaxMind DB nor an ip2region database"},
		{"cut", "ip2region", data[:len(data)-3], "does not fit the file"},
		{"mmdb", "mmdb", data, "geoip: open"},
		{"version", "ip2region", xdbBuf(func(b []byte) { b[0] = 9 }), "version 9 is not 2 or 3"},
		{"ipversion", "ip2region", xdbBuf(func(b []byte) { b[16] = 5 }), "IP version 5"},
		{"pointer", "ip2region", xdbBuf(func(b []byte) { b[18] = 8 }), "pointer size 8"},
		{"policy", "ip2region", xdbBuf(func(b []byte) { b[2] = 2 }), "index policy 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenSources(Source{Path: p, Type: tt.typ})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Open = %v, want an error naming the file and %q", err, tt.want)
			}
		})
	}
	if _, err := OpenSources(Source{Path: good, Type: "qqwry"}); err == nil || !strings.Contains(err.Error(), "not one of auto, mmdb, ip2region") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := OpenSources(); err == nil {
		t.Fatal("no sources: no error")
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Open(dir) = %v", err)
	}
}

// TestCorruptRecords: index entries that point outside the file, at
// empty or huge texts, or vector cells that point outside the index, give
// nothing, never a panic.
func TestCorruptRecords(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.db")
	writeDB(t, p, []segment{
		seg("1.0.0.0", "1.0.0.255", "中国|0|广东省|深圳市|电信"),
		seg("2.0.0.0", "2.0.0.255", "美国|0|0|0|0"),
		seg("3.0.0.0", "3.0.0.255", "日本|0|0|0|0"),
	})
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	first := u32(b, 0)
	binary.LittleEndian.PutUint32(b[first+8:], 0xFF_FFFFF0)     // outside the file
	binary.LittleEndian.PutUint32(b[first+dbEntry+8:], 8|2<<24) // shorter than the city id
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "bad.xdb")
	writeXDB(t, x, 2, []segment{seg("1.0.0.0", "1.0.0.255", "中国|0|广东省|深圳市|电信")})
	xb, err := os.ReadFile(x)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(xb[xdbHeader+(1*256+0)*8+4:], 1<<30) // cell 1.0 past the index
	if err := os.WriteFile(x, xb, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, ip, want string }{
		{p, "1.0.0.1", ""}, {p, "2.0.0.1", ""}, {p, "3.0.0.1", "JP"}, {x, "1.0.0.1", ""},
	} {
		db, err := Open(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Lookup(netip.MustParseAddr(tt.ip)).Country; got != tt.want {
			t.Errorf("%s: Lookup(%s) = %q, want %q", filepath.Base(tt.path), tt.ip, got, tt.want)
		}
	}
}

// TestReloadChanged replaces one of two databases: only it is read again,
// a broken replacement keeps the old version, and Reopen covers both.
func TestReloadChanged(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	writeDB(t, a, []segment{seg("1.0.0.0", "1.0.0.255", "中国|0|广东省|深圳市|电信")})
	writeDB(t, b, []segment{seg("2.0.0.0", "2.0.0.255", "日本|0|0|0|0")})
	db, err := OpenSources(Source{Path: a}, Source{Path: b})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var reports []string
	report := func(path string, info Info, err error) {
		reports = append(reports, filepath.Base(path)+" "+info.Type+" "+errText(err))
	}
	db.ReloadChanged(report)
	if len(reports) != 0 {
		t.Fatalf("nothing changed, reports %q", reports)
	}
	// Replace a with a new file (a rename, as updaters do).
	tmp := filepath.Join(dir, "a.tmp")
	writeDB(t, tmp, []segment{seg("1.0.0.0", "1.0.0.255", "中国|0|浙江省|杭州市|电信")})
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	db.ReloadChanged(report)
	if len(reports) != 1 || reports[0] != "a.db db " {
		t.Fatalf("reports %q", reports)
	}
	if got := db.Lookup(netip.MustParseAddr("1.0.0.1")).Region; got != "浙江" {
		t.Fatalf("after the reload: %q", got)
	}
	if err := os.WriteFile(b, []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	db.ReloadChanged(report)
	if len(reports) != 2 || !strings.HasPrefix(reports[1], "b.db db geoip: open") {
		t.Fatalf("reports %q", reports)
	}
	if got := db.Lookup(netip.MustParseAddr("2.0.0.1")).Country; got != "JP" {
		t.Fatalf("after a broken replacement: %q", got)
	}
	db.ReloadChanged(report)
	if len(reports) != 2 {
		t.Fatalf("the broken file reported again: %q", reports)
	}
	if err := db.Reopen(); err == nil || !strings.Contains(err.Error(), "b.db") {
		t.Fatalf("Reopen = %v", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzIP2Region opens arbitrary bytes as an ip2region file and looks
// addresses up in what opens: errors, never a panic.
func FuzzIP2Region(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.db")
	writeDB(f, p, []segment{
		seg("1.0.0.0", "1.0.0.255", "中国|0|广东省|深圳市|电信"),
		seg("1.0.1.0", "9.255.255.255", "美国|0|0|0|0"),
	})
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:20])
	f.Add(bytes.Repeat([]byte{2, 0, 1, 0}, 10))
	ips := []netip.Addr{netip.MustParseAddr("1.0.0.1"), netip.MustParseAddr("5.6.7.8"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("2001:db8::1")}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := openIP2Region(Source{Path: "fuzz"}, data)
		if err != nil {
			return
		}
		for _, ip := range ips {
			_ = r.lookup(ip)
		}
	})
}

func BenchmarkIP2RegionLookup(b *testing.B) {
	path := ip2regionTestDB(b)
	segs := dbSegments(b, path)
	xdb := filepath.Join(b.TempDir(), "ip2region.xdb")
	writeXDB(b, xdb, 2, segs)
	rng := rand.New(rand.NewPCG(3, 4))
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		s := segs[rng.IntN(len(segs))]
		ips[i] = s.Start
	}
	for _, p := range []string{path, xdb} {
		b.Run(filepath.Ext(p)[1:], func(b *testing.B) {
			db, err := Open(p)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = db.Lookup(ips[i%len(ips)])
			}
		})
	}
}
