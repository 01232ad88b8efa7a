package geoip

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

// testDBPath is where scripts/fetch-geoip-testdb.sh puts the CC0 country
// database (@ip-location-db/geo-whois-asn-country-mmdb).
func testDBPath() string {
	if p := os.Getenv("VIGIL_GEOIP_TESTDB"); p != "" {
		return p
	}
	return "/var/cache/vigil-test/geo-whois-asn-country.mmdb"
}

// skip skips the test for a missing test component, or fails it when
// VIGIL_TEST_STRICT is set (scripts/test.sh sets it: there the component
// was installed, so its absence is a bug, not a reason to skip).
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("VIGIL_TEST_STRICT") != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

func openTestDB(tb testing.TB) *DB {
	tb.Helper()
	path := testDBPath()
	if _, err := os.Stat(path); err != nil {
		skip(tb, "no test database at %s (run scripts/fetch-geoip-testdb.sh or set VIGIL_GEOIP_TESTDB): %v", path, err)
	}
	db, err := Open(path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestLookupKnownNetworks(t *testing.T) {
	db := openTestDB(t)
	tests := []struct {
		ip      string
		country string
	}{
		{"8.8.8.8", "US"},              // Google Public DNS
		{"8.8.4.4", "US"},              // Google Public DNS
		{"2001:4860:4860::8888", "US"}, // Google Public DNS over IPv6
		{"::ffff:8.8.8.8", "US"},       // IPv4-mapped
		{"193.0.6.139", "NL"},          // RIPE NCC, Amsterdam
		{"2001:67c:2e8:22::c100:68b", "NL"},
		{"129.132.1.1", "CH"},   // ETH Zürich
		{"130.149.1.1", "DE"},   // TU Berlin
		{"128.112.1.1", "US"},   // Princeton University
		{"10.1.2.3", ""},        // RFC 1918
		{"172.16.0.1", ""},      // RFC 1918
		{"192.168.1.1", ""},     // RFC 1918
		{"100.64.1.1", ""},      // CGNAT
		{"127.0.0.1", ""},       // loopback
		{"169.254.10.1", ""},    // link-local
		{"::1", ""},             // loopback
		{"fe80::1%eth0", ""},    // link-local with zone
		{"fd00::1", ""},         // unique local
		{"::ffff:10.0.0.1", ""}, // mapped private
		{"0.0.0.0", ""},         // unspecified
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			loc := db.Lookup(netip.MustParseAddr(tt.ip))
			if loc.Country != tt.country {
				t.Fatalf("Lookup(%s).Country = %q, want %q", tt.ip, loc.Country, tt.country)
			}
			if tt.country == "" {
				if loc != (Location{}) {
					t.Fatalf("Lookup(%s) = %+v, want empty", tt.ip, loc)
				}
				return
			}
			// This database has no coordinates: they come from the centroid table.
			lat, lon, ok := Centroid(tt.country)
			if !ok || !loc.HasCoords || loc.Lat != lat || loc.Lon != lon {
				t.Fatalf("Lookup(%s) = %+v, want centroid %v,%v", tt.ip, loc, lat, lon)
			}
		})
	}
	if got := db.Lookup(netip.Addr{}); got != (Location{}) {
		t.Fatalf("Lookup(invalid) = %+v", got)
	}
}

func TestInfo(t *testing.T) {
	db := openTestDB(t)
	info := db.Info()
	if info.Path != testDBPath() || info.Type == "" || info.Size == 0 || info.Built.IsZero() {
		t.Fatalf("Info = %+v", info)
	}
	t.Logf("test database: %+v", info)
}

// TestCentroidForEveryCountry walks every network of the test database and
// checks that each country it names has a built-in point.
func TestCentroidForEveryCountry(t *testing.T) {
	path := testDBPath()
	if _, err := os.Stat(path); err != nil {
		skip(t, "no test database at %s (run scripts/fetch-geoip-testdb.sh): %v", path, err)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[string]int{}
	for res := range r.Networks() {
		var rec struct {
			CountryCode string `maxminddb:"country_code"`
		}
		if err := res.Decode(&rec); err != nil {
			t.Fatalf("%s: %v", res.Prefix(), err)
		}
		seen[rec.CountryCode]++
	}
	var missing []string
	for cc := range seen {
		if _, _, ok := Centroid(normCountry(cc)); !ok {
			missing = append(missing, cc)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("no centroid for %v", missing)
	}
	t.Logf("%d countries in the database, all with a centroid", len(seen))
}

func TestCentroidTable(t *testing.T) {
	for i, c := range centroids {
		if len(c.code) != 2 || normCountry(c.code) != c.code {
			t.Errorf("bad code %q", c.code)
		}
		if i > 0 && centroids[i-1].code >= c.code {
			t.Errorf("table not sorted at %q after %q", c.code, centroids[i-1].code)
		}
		if c.lat < -90 || c.lat > 90 || c.lon < -180 || c.lon > 180 {
			t.Errorf("%s: bad point %v,%v", c.code, c.lat, c.lon)
		}
		if lat, lon, ok := Centroid(c.code); !ok || lat != c.lat || lon != c.lon {
			t.Errorf("Centroid(%s) = %v,%v,%v", c.code, lat, lon, ok)
		}
	}
	if len(centroids) < 249 {
		t.Errorf("only %d centroids", len(centroids))
	}
	for _, cc := range []string{"", "ZZ", "QM", "us", "A", "USA"} {
		if _, _, ok := Centroid(cc); ok {
			t.Errorf("Centroid(%q) found", cc)
		}
	}
}

func TestDistance(t *testing.T) {
	paris := Location{Country: "FR", Lat: 48.8566, Lon: 2.3522, HasCoords: true}
	newYork := Location{Country: "US", Lat: 40.7128, Lon: -74.0060, HasCoords: true}
	sydney := Location{Country: "AU", Lat: -33.8688, Lon: 151.2093, HasCoords: true}
	tests := []struct {
		name      string
		a, b      Location
		want, tol float64
	}{
		{"paris-newyork", paris, newYork, 5837, 30},
		{"newyork-paris", newYork, paris, 5837, 30},
		{"paris-sydney", paris, sydney, 16960, 60},
		{"same", paris, paris, 0, 1e-9},
		{"antipodes", Location{Lat: 0, Lon: 0, HasCoords: true}, Location{Lat: 0, Lon: 180, HasCoords: true}, math.Pi * earthRadius, 1e-6},
		{"poles", Location{Lat: 90, HasCoords: true}, Location{Lat: -90, HasCoords: true}, math.Pi * earthRadius, 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Distance(tt.a, tt.b); math.Abs(got-tt.want) > tt.tol {
				t.Fatalf("Distance = %.1f km, want %.1f ± %.1f", got, tt.want, tt.tol)
			}
		})
	}
	if d := Distance(paris, Location{Country: "FR"}); !math.IsNaN(d) {
		t.Fatalf("Distance without coordinates = %v, want NaN", d)
	}
	// Centroid fallback is good enough to tell countries apart.
	fr := withCentroid(Location{Country: "FR"})
	us := withCentroid(Location{Country: "US"})
	if d := Distance(fr, us); d < 6000 || d > 9000 {
		t.Fatalf("FR-US centroid distance %.0f km", d)
	}
}

func TestPrivate(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.0.0.1", true},
		{"172.31.255.255", true},
		{"172.32.0.1", false},
		{"192.168.0.1", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"100.128.0.1", false},
		{"127.0.0.1", true},
		{"169.254.1.1", true},
		{"224.0.0.1", true},
		{"0.0.0.0", true},
		{"8.8.8.8", false},
		{"::1", true},
		{"::", true},
		{"fe80::1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"ff02::1", true},
		{"2001:db8::1", false},
		{"2a00:1450::1", false},
		{"::ffff:192.168.1.1", true},
		{"::ffff:100.64.0.1", true},
		{"::ffff:8.8.8.8", false},
	}
	for _, tt := range tests {
		if got := Private(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Private(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if Private(netip.Addr{}) {
		t.Error("Private(invalid) = true")
	}
}

func TestNilDB(t *testing.T) {
	var db *DB
	if got := db.Lookup(netip.MustParseAddr("8.8.8.8")); got != (Location{}) {
		t.Fatalf("nil Lookup = %+v", got)
	}
	if db.Info() != (Info{}) {
		t.Fatal("nil Info not empty")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Reopen(); err == nil {
		t.Fatal("nil Reopen: no error")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.mmdb")); err == nil {
		t.Fatal("Open(missing): no error")
	}
	bad := filepath.Join(dir, "bad.mmdb")
	if err := os.WriteFile(bad, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(bad)
	if err == nil || !strings.Contains(err.Error(), "bad.mmdb") {
		t.Fatalf("Open(bad) = %v", err)
	}
}

// TestReopen swaps the file under running lookups: a broken replacement
// keeps the old version, a good one is picked up.
func TestReopen(t *testing.T) {
	src := testDBPath()
	data, err := os.ReadFile(src)
	if err != nil {
		skip(t, "no test database at %s: %v", src, err)
	}
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	ip := netip.MustParseAddr("8.8.8.8")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := db.Lookup(ip).Country; got != "US" {
					t.Errorf("Lookup during reopen = %q", got)
					return
				}
			}
		}()
	}
	for range 3 {
		if err := db.Reopen(); err != nil {
			t.Error(err)
		}
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.Reopen(); err == nil {
		t.Error("Reopen(garbage): no error")
	}
	close(stop)
	wg.Wait()
	if got := db.Lookup(ip).Country; got != "US" {
		t.Fatalf("after failed Reopen: %q", got)
	}
	db.Close()
	if got := db.Lookup(ip); got != (Location{}) {
		t.Fatalf("after Close: %+v", got)
	}
}

func TestNormCountry(t *testing.T) {
	tests := map[string]string{"US": "US", "us": "US", "dE": "DE", "": "", "U": "", "USA": "", "1A": "", "Ü1": "", "ZZ": "", "zz": ""}
	for in, want := range tests {
		if got := normCountry(in); got != want {
			t.Errorf("normCountry(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in   any
		want float64
		ok   bool
	}{
		{float64(1.5), 1.5, true},
		{float32(2.5), 2.5, true},
		{"48.85", 48.85, true},
		{"x", 0, false},
		{"NaN", 0, false},
		{uint64(7), 7, true},
		{nil, 0, false},
		{map[string]any{}, 0, false},
	}
	for _, tt := range tests {
		got, ok := number(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("number(%v) = %v,%v want %v,%v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzLookup(f *testing.F) {
	path := testDBPath()
	db, err := Open(path)
	if err != nil {
		skip(f, "no test database at %s: %v", path, err)
	}
	f.Add([]byte{8, 8, 8, 8})
	f.Add([]byte{10, 0, 0, 1})
	f.Add(netip.MustParseAddr("2001:4860:4860::8888").AsSlice())
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		loc := db.Lookup(ip)
		if loc.Country != "" && normCountry(loc.Country) != loc.Country {
			t.Fatalf("Lookup(%s) country %q", ip, loc.Country)
		}
		if loc.HasCoords && (loc.Lat < -90 || loc.Lat > 90 || loc.Lon < -180 || loc.Lon > 180) {
			t.Fatalf("Lookup(%s) = %+v", ip, loc)
		}
		if Private(ip) && loc != (Location{}) {
			t.Fatalf("private %s: %+v", ip, loc)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	db := openTestDB(b)
	ips := []netip.Addr{
		netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("193.0.6.139"),
		netip.MustParseAddr("129.132.1.1"),
		netip.MustParseAddr("2001:4860:4860::8888"),
		netip.MustParseAddr("81.2.69.142"),
		netip.MustParseAddr("203.0.113.9"),
		netip.MustParseAddr("1.1.1.1"),
		netip.MustParseAddr("10.0.0.1"),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = db.Lookup(ips[i%len(ips)])
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	db := openTestDB(b)
	ip := netip.MustParseAddr("8.8.8.8")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = db.Lookup(ip)
		}
	})
}

func BenchmarkDistance(b *testing.B) {
	p := Location{Lat: 48.8566, Lon: 2.3522, HasCoords: true}
	n := Location{Lat: 40.7128, Lon: -74.0060, HasCoords: true}
	for range b.N {
		_ = Distance(p, n)
	}
}
