package geoip

import (
	"bytes"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// mmdbMarker starts a MaxMind DB's metadata, in the file's last 128 KiB.
var mmdbMarker = []byte("\xab\xcd\xefMaxMind.com")

// isMMDB reports whether buf looks like a MaxMind DB.
func isMMDB(buf []byte) bool {
	tail := buf[max(0, len(buf)-128<<10):]
	return bytes.Contains(tail, mmdbMarker)
}

// mmdbReader is one version of a MaxMind-format database with its
// record cache.
type mmdbReader struct {
	r      *maxminddb.Reader
	lang   string
	inf    Info
	cache  sync.Map // record offset (uintptr) -> Location
	cached atomic.Int64
}

func openMMDB(s Source, buf []byte) (*mmdbReader, error) {
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, err
	}
	lang := s.Language
	if lang == "" {
		lang = "en"
	}
	return &mmdbReader{
		r:    r,
		lang: lang,
		inf: Info{
			Path:   s.Path,
			Format: TypeMMDB,
			Type:   r.Metadata.DatabaseType,
			Built:  r.Metadata.BuildTime().UTC(),
			Size:   int64(len(buf)),
		},
	}, nil
}

func (m *mmdbReader) info() Info { return m.inf }

func (m *mmdbReader) lookup(ip netip.Addr) Location {
	res := m.r.Lookup(ip)
	if !res.Found() {
		return Location{}
	}
	off := res.Offset()
	if v, ok := m.cache.Load(off); ok {
		return v.(Location)
	}
	loc := decode(res, m.lang)
	if m.cached.Load() < maxCached {
		if _, loaded := m.cache.LoadOrStore(off, loc); !loaded {
			m.cached.Add(1)
		}
	}
	return loc
}

// names are a record's names by language.
type names struct {
	Names map[string]string `maxminddb:"names"`
}

// in returns the name in lang, else the English one.
func (n names) in(lang string) string {
	if s := n.Names[lang]; s != "" {
		return s
	}
	return n.Names["en"]
}

// record covers the supported layouts. Coordinates are decoded into any
// because databases differ in how they store them (double, float,
// string), and so is city: a map of names in MaxMind's layout, a string
// in ip-location-db's.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	CountryCode  string  `maxminddb:"country_code"`
	Subdivisions []names `maxminddb:"subdivisions"`
	City         any     `maxminddb:"city"`
	State1       string  `maxminddb:"state1"`
	Location     struct {
		Latitude  any `maxminddb:"latitude"`
		Longitude any `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Latitude  any `maxminddb:"latitude"`
	Longitude any `maxminddb:"longitude"`
	// ASOrg is an ASN database's organization, ISP an ISP database's.
	ASOrg string `maxminddb:"autonomous_system_organization"`
	ISP   string `maxminddb:"isp"`
}

// countryOnly is the fallback when a record's other fields have types
// record cannot hold.
type countryOnly struct {
	Country struct {
		ISOCode any `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	CountryCode any `maxminddb:"country_code"`
}

// decode reads a record, without the centroid fallback.
func decode(res maxminddb.Result, lang string) Location {
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
		return Location{Country: normCountry(cc)}
	}
	var loc Location
	for _, cc := range [...]string{rec.Country.ISOCode, rec.CountryCode, rec.RegisteredCountry.ISOCode} {
		if loc.Country = normCountry(cc); loc.Country != "" {
			break
		}
	}
	if len(rec.Subdivisions) > 0 {
		loc.Region = rec.Subdivisions[0].in(lang)
	} else {
		loc.Region = rec.State1
	}
	switch c := rec.City.(type) {
	case string:
		loc.City = c
	case map[string]any:
		if n, ok := c["names"].(map[string]any); ok {
			loc.City, _ = n[lang].(string)
			if loc.City == "" {
				loc.City, _ = n["en"].(string)
			}
		}
	}
	if chinese(loc.Country) {
		loc.Region, loc.City = trimRegion(loc.Region), trimCity(loc.City)
	}
	loc.ISP = rec.ASOrg
	if loc.ISP == "" {
		loc.ISP = rec.ISP
	}
	lat, okLat := number(rec.Location.Latitude)
	lon, okLon := number(rec.Location.Longitude)
	if !okLat || !okLon {
		lat, okLat = number(rec.Latitude)
		lon, okLon = number(rec.Longitude)
	}
	if okLat && okLon && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
		loc.Lat, loc.Lon, loc.HasCoords = lat, lon, true
	}
	return loc
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
