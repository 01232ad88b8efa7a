// Package geoip maps IP addresses to a country and rough coordinates using
// a MaxMind-format (.mmdb) database.
//
// Two record layouts are understood: MaxMind's GeoIP2/GeoLite2 layout
// (country.iso_code, registered_country.iso_code, location.latitude,
// location.longitude) and the ip-location-db layout (country_code and, in
// its city databases, latitude and longitude at the top level). When a
// database has no coordinates for an address whose country it knows, the
// location falls back to a built-in point for that country (see Centroid):
// good enough for "impossible travel" distances, not for maps.
//
// A DB reads the whole file into memory, so Reopen can swap in a new
// version while lookups run without ever unmapping memory in use. Lookups
// are lock-free.
package geoip

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is what a database knows about one address.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code in upper case, "" when unknown.
	Country string
	// Lat and Lon are degrees (WGS84); valid only when HasCoords is set.
	Lat, Lon float64
	// HasCoords reports whether Lat and Lon hold a position: the database's
	// own or, failing that, the country's built-in point.
	HasCoords bool
}

// Info describes the database a DB currently serves.
type Info struct {
	Path  string    // file the database was read from
	Type  string    // database_type from its metadata, e.g. "GeoLite2-City"
	Built time.Time // build time from its metadata
	Size  int64     // file size in bytes
}

// maxCached bounds the per-database cache of decoded records. A country
// database has a few hundred distinct records; a city database millions,
// of which only the hot ones matter.
const maxCached = 1 << 16

// DB is an open database. A nil *DB is valid: it knows nothing and every
// lookup returns an empty Location. Methods are safe for concurrent use.
type DB struct {
	path string
	mu   sync.Mutex // serializes Reopen and Close
	cur  atomic.Pointer[reader]
}

// reader is one immutable version of the database with its record cache.
type reader struct {
	r      *maxminddb.Reader
	info   Info
	cache  sync.Map // record offset (uintptr) -> Location
	cached atomic.Int64
}

// Open reads the database at path.
func Open(path string) (*DB, error) {
	r, err := load(path)
	if err != nil {
		return nil, err
	}
	db := &DB{path: path}
	db.cur.Store(r)
	return db, nil
}

// load reads and opens the database file. The file is read into memory
// rather than mapped so that a replaced version can simply be dropped.
func load(path string) (*reader, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	return &reader{
		r: r,
		info: Info{
			Path:  path,
			Type:  r.Metadata.DatabaseType,
			Built: r.Metadata.BuildTime().UTC(),
			Size:  int64(len(buf)),
		},
	}, nil
}

// Reopen reads the database file again and switches lookups to the new
// version. Lookups running meanwhile finish on the old version. On error
// the DB keeps serving the version it had.
func (db *DB) Reopen() error {
	if db == nil {
		return errors.New("geoip: reopen: no database configured")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	r, err := load(db.path)
	if err != nil {
		return err
	}
	db.cur.Store(r)
	return nil
}

// Close releases the database. Later lookups return empty locations.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	// The reader holds a byte slice, not a mapping: dropping it is enough,
	// and lookups still running on it stay valid.
	db.cur.Store(nil)
	return nil
}

// Info describes the database currently served; the zero Info when db is
// nil or closed.
func (db *DB) Info() Info {
	if db == nil {
		return Info{}
	}
	r := db.cur.Load()
	if r == nil {
		return Info{}
	}
	return r.info
}

// Lookup returns what the database knows about ip. Private, loopback,
// link-local and shared (CGNAT) addresses, invalid addresses and addresses
// the database does not hold give an empty Location.
func (db *DB) Lookup(ip netip.Addr) Location {
	if db == nil || !ip.IsValid() || Private(ip) {
		return Location{}
	}
	r := db.cur.Load()
	if r == nil {
		return Location{}
	}
	res := r.r.Lookup(ip.Unmap().WithZone(""))
	if !res.Found() {
		return Location{}
	}
	off := res.Offset()
	if v, ok := r.cache.Load(off); ok {
		return v.(Location)
	}
	loc := decode(res)
	if r.cached.Load() < maxCached {
		if _, loaded := r.cache.LoadOrStore(off, loc); !loaded {
			r.cached.Add(1)
		}
	}
	return loc
}

// record covers both supported layouts. Coordinates are decoded into any
// because databases differ in how they store them (double, float, string).
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	CountryCode string `maxminddb:"country_code"`
	Location    struct {
		Latitude  any `maxminddb:"latitude"`
		Longitude any `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Latitude  any `maxminddb:"latitude"`
	Longitude any `maxminddb:"longitude"`
}

// countryOnly is the fallback when a record's other fields have types
// record cannot hold.
type countryOnly struct {
	Country struct {
		ISOCode any `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	CountryCode any `maxminddb:"country_code"`
}

func decode(res maxminddb.Result) Location {
	var rec record
	if err := res.Decode(&rec); err != nil {
		var c countryOnly
		if res.Decode(&c) != nil {
			return Location{}
		}
		cc, _ := c.Country.ISOCode.(string)
		if cc == "" {
			cc, _ = c.CountryCode.(string)
		}
		return withCentroid(Location{Country: normCountry(cc)})
	}
	var loc Location
	for _, cc := range [...]string{rec.Country.ISOCode, rec.CountryCode, rec.RegisteredCountry.ISOCode} {
		if loc.Country = normCountry(cc); loc.Country != "" {
			break
		}
	}
	lat, okLat := number(rec.Location.Latitude)
	lon, okLon := number(rec.Location.Longitude)
	if !okLat || !okLon {
		lat, okLat = number(rec.Latitude)
		lon, okLon = number(rec.Longitude)
	}
	if okLat && okLon && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
		loc.Lat, loc.Lon, loc.HasCoords = lat, lon, true
		return loc
	}
	return withCentroid(loc)
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

// number converts a decoded coordinate to float64.
func number(v any) (float64, bool) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case float32:
		f = float64(v)
	case string:
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil {
			return 0, false
		}
	case int:
		f = float64(v)
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint16:
		f = float64(v)
	case uint32:
		f = float64(v)
	case uint64:
		f = float64(v)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
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
