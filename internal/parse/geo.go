package parse

import (
	"net/netip"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/store"
)

// placeSource adds the place of the event's source.ip (Options.Geo):
// country, region, city and operator, each where known. Private and
// unknown addresses get nothing, and so does an event that already
// carries a source.geo or source.as field: its sender placed it.
func (p *Parser) placeSource(row *store.Row) {
	var text string
	for _, f := range row.Fields {
		if !strings.HasPrefix(f.Name, "source.") {
			continue
		}
		if f.Name == format.FieldSourceIP {
			text = f.Value
		} else if strings.HasPrefix(f.Name, "source.geo.") || strings.HasPrefix(f.Name, "source.as.") {
			return
		}
	}
	if text == "" {
		return
	}
	ip, err := netip.ParseAddr(text)
	if err != nil {
		return
	}
	loc := p.opts.Geo.Lookup(ip)
	for _, f := range [...]store.Field{
		{Name: FieldGeoCountry, Value: loc.Country},
		{Name: FieldGeoRegion, Value: loc.Region},
		{Name: FieldGeoCity, Value: loc.City},
		{Name: FieldASOrg, Value: loc.ISP},
	} {
		if f.Value != "" {
			row.Fields = append(row.Fields, f)
		}
	}
}
