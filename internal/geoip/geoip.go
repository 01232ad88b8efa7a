// Package geoip places IP addresses: country, region (a province or
// state), city, the network's operator and rough coordinates, from one or
// more databases consulted in order.
//
// Two kinds of database are read, both by code of this package:
//
//   - MaxMind-format (.mmdb) country, city and ASN databases, in MaxMind's
//     GeoIP2/GeoLite2 layout (country.iso_code, subdivisions, city.names,
//     location, autonomous_system_organization) or the ip-location-db layout
//     (country_code, state1, city, latitude, longitude at the top level);
//   - ip2region databases, in the old .db layout (as the npm package
//     ip2region ships it) and the xdb layout (versions 2 and 3, IPv4 and
//     IPv6), whose records are "country|area|province|city|ISP" or, in the
//     newer data, "country|province|city|ISP|ISO code".
//
// The first database that answers a field wins; a later database adds
// only fields the earlier ones left empty, and only where it agrees with
// them on the country (and on the region, for the city). When no database
// has coordinates for an address whose country is known, the location
// falls back to a built-in point for that country (see Centroid): good
// enough for "impossible travel" distances, not for maps.
//
// A DB reads each file whole into memory, so Reopen can swap in a new
// version while lookups run without ever unmapping memory in use. Lookups
// are lock-free.
package geoip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Location is what the databases know about one address. Empty strings
// are unknown.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code in upper case. Hong Kong,
	// Macao and Taiwan have their own codes (HK, MO, TW), as in ISO 3166-1
	// and MaxMind's databases, whichever database answers.
	Country string
	// Region is the first-level subdivision (a Chinese province, a US
	// state) and City the city, as the database names them; Chinese names
	// lose their administrative suffix (广东省 is 广东, 深圳市 深圳, 广西壮族自治区
	// 广西), so that databases that write them differently agree.
	Region, City string
	// ISP is the network's operator: ip2region's ISP (电信, 联通, 移动, ...)
	// or an ASN database's organization.
	ISP string
	// Lat and Lon are degrees (WGS84); valid only when HasCoords is set.
	Lat, Lon float64
	// HasCoords reports whether Lat and Lon hold a position: a database's
	// own or, failing that, the country's built-in point.
	HasCoords bool
}

// Database types of Source.Type.
const (
	TypeAuto      = "auto"
	TypeMMDB      = "mmdb"
	TypeIP2Region = "ip2region"
)

// Source names one database file.
type Source struct {
	// Path is the file.
	Path string
	// Type is TypeMMDB, TypeIP2Region or TypeAuto ("" too): recognised
	// from the file's content.
	Type string
	// Language picks the names of an MMDB city database ("zh-CN", "en",
	// ...); default "en", and English when a name lacks the language.
	Language string
}

// CheckType reports whether t is a known Source.Type.
func CheckType(t string) error {
	switch t {
	case "", TypeAuto, TypeMMDB, TypeIP2Region:
		return nil
	}
	return fmt.Errorf("type %q is not one of auto, mmdb, ip2region", t)
}

// Info describes one database a DB currently serves.
type Info struct {
	Path   string    // file the database was read from
	Format string    // TypeMMDB or TypeIP2Region
	Type   string    // database_type from an MMDB's metadata ("GeoLite2-City"); the ip2region layout ("db", "xdb v3 IPv4")
	Built  time.Time // build time from the metadata; zero when the file has none
	Size   int64     // file size in bytes
}

// maxCached bounds each database's cache of decoded records. A country
// database has a few hundred distinct records; a city database millions,
// of which only the hot ones matter.
const maxCached = 1 << 16

// reader is one loaded, immutable version of one database file. lookup
// gets a valid, unmapped, public address and returns what the file says
// about it, without the centroid fallback.
type reader interface {
	lookup(ip netip.Addr) Location
	info() Info
}

// version is a reader with the file's identity when it was read.
type version struct {
	r  reader
	fi os.FileInfo
}

// source is one configured database and the version in service.
type source struct {
	spec Source
	mu   sync.Mutex // serializes loads
	cur  atomic.Pointer[version]
	// failed is the file that last failed to load (under mu), so that a
	// broken file is reported once, not at every check.
	failed os.FileInfo
}

// DB is a set of open databases. A nil *DB is valid: it knows nothing and
// every lookup returns an empty Location. Methods are safe for concurrent
// use.
type DB struct {
	srcs []*source
}

// Open reads the database at path, of any supported type.
func Open(path string) (*DB, error) {
	return OpenSources(Source{Path: path})
}

// OpenSources reads the databases, consulted in the order given.
func OpenSources(srcs ...Source) (*DB, error) {
	if len(srcs) == 0 {
		return nil, errors.New("geoip: no database")
	}
	db := &DB{}
	for _, s := range srcs {
		if err := CheckType(s.Type); err != nil {
			return nil, fmt.Errorf("geoip: %s: %w", s.Path, err)
		}
		src := &source{spec: s}
		v, err := load(s)
		if err != nil {
			return nil, err
		}
		src.cur.Store(v)
		db.srcs = append(db.srcs, src)
	}
	return db, nil
}

// load reads and opens a database file. The file is read into memory
// rather than mapped so that a replaced version can simply be dropped.
func load(s Source) (*version, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err) // names the file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("geoip: open %s: not a regular file", s.Path)
	}
	buf := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		// A file that shrinks while read is being replaced in place.
		return nil, fmt.Errorf("geoip: read %s: %w", s.Path, err)
	}
	typ := s.Type
	if typ == "" || typ == TypeAuto {
		typ = TypeIP2Region
		if isMMDB(buf) {
			typ = TypeMMDB
		}
	}
	var r reader
	if typ == TypeMMDB {
		r, err = openMMDB(s, buf)
	} else {
		r, err = openIP2Region(s, buf)
		if err != nil && (s.Type == "" || s.Type == TypeAuto) {
			err = fmt.Errorf("neither a MaxMind DB nor an ip2region database (%w)", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", s.Path, err)
	}
	return &version{r: r, fi: fi}, nil
}

// Reopen reads every database file again and switches lookups to the new
// versions. Lookups running meanwhile finish on the old ones. A database
// that fails keeps serving the version it had; the error names each
// failure.
func (db *DB) Reopen() error {
	if db == nil {
		return errors.New("geoip: reopen: no database configured")
	}
	var errs []error
	for _, s := range db.srcs {
		errs = append(errs, s.reload(false))
	}
	return errors.Join(errs...)
}

// ReloadChanged reads again the database files that changed since they
// were read (modification time, size or inode: a file replaced by a
// rename counts) and reports, for each one, its new Info or why the old
// version stays in service.
func (db *DB) ReloadChanged(report func(path string, info Info, err error)) {
	if db == nil {
		return
	}
	for _, s := range db.srcs {
		fi, err := os.Stat(s.spec.Path)
		if err != nil {
			continue // being replaced, or gone: keep the version in service
		}
		if v := s.cur.Load(); v != nil && sameFile(v.fi, fi) || s.failedAt(fi) {
			continue
		}
		err = s.reload(true)
		if report != nil {
			var info Info
			if v := s.cur.Load(); v != nil {
				info = v.r.info()
			}
			report(s.spec.Path, info, err)
		}
	}
}

// Watch calls ReloadChanged every interval (default 10s) until ctx is
// done. It blocks: run it in a goroutine that the caller owns.
func (db *DB) Watch(ctx context.Context, interval time.Duration, report func(path string, info Info, err error)) {
	if db == nil {
		return
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		db.ReloadChanged(report)
	}
}

func sameFile(a, b os.FileInfo) bool {
	return a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size() && os.SameFile(a, b)
}

// failedAt reports whether fi is the version of the file that last
// failed to load.
func (s *source) failedAt(fi os.FileInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed != nil && sameFile(s.failed, fi)
}

// reload loads the file again; onlyOpen leaves a closed source closed.
func (s *source) reload(onlyOpen bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if onlyOpen && s.cur.Load() == nil {
		return nil
	}
	fi, _ := os.Stat(s.spec.Path)
	v, err := load(s.spec)
	if err != nil {
		s.failed = fi
		return err
	}
	s.failed = nil
	s.cur.Store(v)
	return nil
}

// Close releases the databases. Later lookups return empty locations.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	for _, s := range db.srcs {
		s.mu.Lock()
		// A reader holds a byte slice, not a mapping: dropping it is
		// enough, and lookups still running on it stay valid.
		s.cur.Store(nil)
		s.mu.Unlock()
	}
	return nil
}

// Info describes the first database; the zero Info when db is nil or
// closed.
func (db *DB) Info() Info {
	if infos := db.Infos(); len(infos) > 0 {
		return infos[0]
	}
	return Info{}
}

// Infos describes the databases currently served, in lookup order.
func (db *DB) Infos() []Info {
	if db == nil {
		return nil
	}
	var out []Info
	for _, s := range db.srcs {
		if v := s.cur.Load(); v != nil {
			out = append(out, v.r.info())
		}
	}
	return out
}

// Lookup returns what the databases know about ip. Private, loopback,
// link-local and shared (CGNAT) addresses, invalid addresses and addresses
// no database holds give an empty Location.
func (db *DB) Lookup(ip netip.Addr) Location {
	if db == nil || !ip.IsValid() || Private(ip) {
		return Location{}
	}
	ip = ip.Unmap().WithZone("")
	var loc Location
	for _, s := range db.srcs {
		v := s.cur.Load()
		if v == nil {
			continue
		}
		merge(&loc, v.r.lookup(ip))
	}
	if !loc.HasCoords {
		loc = withCentroid(loc)
	}
	return loc
}

// merge adds to loc the fields of l that loc lacks, when l agrees with
// loc on the country (and on the region, for the city and coordinates).
func merge(loc *Location, l Location) {
	if l.Country != "" && loc.Country != "" && l.Country != loc.Country {
		return // another country: nothing it says fits
	}
	if loc.Country == "" {
		loc.Country = l.Country
	}
	sameRegion := l.Region == "" || loc.Region == "" || l.Region == loc.Region
	if loc.Region == "" {
		loc.Region = l.Region
	}
	if loc.City == "" && sameRegion {
		loc.City = l.City
	}
	if loc.ISP == "" {
		loc.ISP = l.ISP
	}
	if !loc.HasCoords && l.HasCoords && sameRegion {
		loc.Lat, loc.Lon, loc.HasCoords = l.Lat, l.Lon, true
	}
}

// withCentroid fills in the country's built-in point.
func withCentroid(loc Location) Location {
	if lat, lon, ok := Centroid(loc.Country); ok {
		loc.Lat, loc.Lon, loc.HasCoords = lat, lon, true
	}
	return loc
}

// normCountry returns cc as an upper-case alpha-2 code, or "" when it is
// not two ASCII letters or is ZZ, which databases use for "unknown".
func normCountry(cc string) string {
	if len(cc) != 2 || cc == "ZZ" || cc == "zz" {
		return ""
	}
	var b [2]byte
	for i := range 2 {
		c := cc[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		default:
			return ""
		}
		b[i] = c
	}
	if b[0] == cc[0] && b[1] == cc[1] {
		return cc
	}
	return string(b[:])
}

// chinese are the codes whose region and city names lose their Chinese
// administrative suffixes.
func chinese(cc string) bool {
	return cc == "CN" || cc == "HK" || cc == "MO" || cc == "TW"
}

// regionSuffixes end Chinese province-level names, longest first.
var regionSuffixes = []string{"壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市"}

// trimRegion drops a Chinese province-level name's suffix: 广东省 is 广东,
// 北京市 北京, 新疆维吾尔自治区 新疆, 香港特别行政区 香港.
func trimRegion(s string) string {
	for _, suf := range regionSuffixes {
		if t, ok := strings.CutSuffix(s, suf); ok && len([]rune(t)) >= 2 {
			return t
		}
	}
	return s
}

// trimCity drops a Chinese city name's 市: 深圳市 is 深圳 (a two-character
// name keeps it: 沙市 is a district).
func trimCity(s string) string {
	if t, ok := strings.CutSuffix(s, "市"); ok && len([]rune(t)) >= 2 {
		return t
	}
	return s
}

// cgnat is the shared address space of RFC 6598.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Private reports whether ip is an address no geolocation applies to:
// private (RFC 1918, fc00::/7), shared/CGNAT (100.64.0.0/10), loopback,
// link-local, multicast or unspecified. IPv4-mapped IPv6 addresses are
// judged by their IPv4 address. An invalid address is not private.
func Private(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() ||
		(ip.Is4() && cgnat.Contains(ip))
}

// earthRadius is the mean Earth radius in km (IUGG).
const earthRadius = 6371.0088

// Distance returns the great-circle distance between a and b in km
// (haversine formula). It is NaN when either has no coordinates, so that
// comparisons such as Distance(a, b) > 500 are false.
func Distance(a, b Location) float64 {
	if !a.HasCoords || !b.HasCoords {
		return math.NaN()
	}
	const rad = math.Pi / 180
	lat1, lat2 := a.Lat*rad, b.Lat*rad
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	s1, s2 := math.Sin(dLat/2), math.Sin(dLon/2)
	h := s1*s1 + math.Cos(lat1)*math.Cos(lat2)*s2*s2
	return 2 * earthRadius * math.Asin(math.Sqrt(math.Min(1, h)))
}
