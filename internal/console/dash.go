package console

import (
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/console/chart"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/units"
)

// dashRoutes registers the overview dashboard and the entity pages.
func (c *Console) dashRoutes(mux *Mux) {
	if c.o.Dashboards == nil {
		return
	}
	mux.HandleFunc("GET /{$}", PermRead, c.overview)
	mux.HandleFunc("GET /entity/{kind}/{value}", PermRead, c.entity)
}

// dashRanges are the overview's ranges; the first is the default.
var dashRanges = []string{"24h", "1h", "6h", "7d", "30d"}

// entityRanges are the entity pages' ranges; the first is the default.
var entityRanges = []string{"24h", "7d", "30d"}

// dashRefresh is the auto-refresh a wall dashboard may ask for (?refresh=1).
const dashRefresh = 60

// pageLinks builds the links of the dashboard pages: to the entity pages
// and to searches over the page's range.
type pageLinks struct {
	start, end time.Time
}

// UserURL, IPURL and DeviceURL link an entity page.
func (l pageLinks) UserURL(name string) string { return "/entity/user/" + url.PathEscape(name) }
func (l pageLinks) IPURL(ip string) string     { return "/entity/ip/" + url.PathEscape(ip) }
func (l pageLinks) DeviceURL(id string) string { return "/entity/device/" + url.PathEscape(id) }

// SearchURL links the search page for q over the page's range.
func (l pageLinks) SearchURL(q string) string {
	v := url.Values{"q": {q}, "start": {l.start.UTC().Format(time.RFC3339)}, "end": {l.end.UTC().Format(time.RFC3339)}}
	return "/search?" + v.Encode()
}

// FieldSearch links the search for field:="value" (and more filters).
func (l pageLinks) FieldSearch(field, value string, more ...string) string {
	q := field + ":=" + strconv.Quote(value)
	if len(more) > 0 {
		q += " " + strings.Join(more, " ")
	}
	return l.SearchURL(q)
}

// protoColor gives each protocol group one colour on every chart.
func protoColor(p string) string {
	for i, q := range service.Protocols {
		if q == p {
			return chart.Palette[i%len(chart.Palette)]
		}
	}
	return chart.Palette[len(chart.Palette)-1]
}

// DashTime is a time for the dense tables of the dashboard pages: month,
// day and minute in the user's zone (the page names the zone), the full
// time and how long ago on hover.
func (v View) DashTime(t time.Time) TimeView {
	if t.IsZero() {
		return TimeView{Text: "-"}
	}
	return TimeView{ISO: t.UTC().Format(time.RFC3339), Text: t.In(v.Zone).Format("01-02 15:04"), Ago: v.Time(t) + ", " + v.Ago(t)}
}

// Bytes writes a size: 14.2 KiB.
func (v View) Bytes(n int64) string { return units.ByteSize(n).String() }

// loginCharts draws a timeline as two stacked charts: successful and
// failed logins by protocol, width pixels wide.
func loginCharts(v View, id string, tl *service.Timeline, emptyKey string, width int) (ok, failed template.HTML) {
	var succ, fail []chart.Series
	for _, s := range tl.Series {
		name := v.T("dash.proto." + s.Protocol)
		if s.TotalSuccess > 0 {
			succ = append(succ, chart.Series{Name: name, Values: floats(s.Success), Color: protoColor(s.Protocol)})
		}
		if s.TotalFailure > 0 {
			fail = append(fail, chart.Series{Name: name, Values: floats(s.Failure), Color: protoColor(s.Protocol)})
		}
	}
	step := time.Duration(tl.StepSec) * time.Second
	ok = (&chart.TimeSeries{ID: id + "-ok", Title: v.T("dash.chart.logins"), Times: tl.Buckets, Step: step, Series: succ,
		Stacked: true, Loc: v.Zone, Width: width, Height: 170, Empty: v.T(emptyKey)}).SVG()
	failed = (&chart.TimeSeries{ID: id + "-fail", Title: v.T("dash.chart.failures"), Times: tl.Buckets, Step: step, Series: fail,
		Stacked: true, Loc: v.Zone, Width: width, Height: 170, Empty: v.T(emptyKey)}).SVG()
	return ok, failed
}

// perSecond writes a rate for the axis and tooltips: 0.002/s, 0.5/s,
// 12/s, 1.2k/s (below 10, two significant digits).
func perSecond(v float64) string {
	if v > 0 && v < 10 {
		decimals := min(int(-math.Floor(math.Log10(v)))+1, 6)
		s := strconv.FormatFloat(v, 'f', decimals, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
		}
		return s + "/s"
	}
	return chart.FormatCount(math.Round(v)) + "/s"
}

func floats(n []int64) []float64 {
	out := make([]float64, len(n))
	for i, v := range n {
		out[i] = float64(v)
	}
	return out
}

// pickRange returns the range parameter when it is one of allowed, else
// the first.
func pickRange(r *http.Request, allowed []string) (string, time.Duration) {
	s := r.URL.Query().Get("range")
	found := false
	for _, a := range allowed {
		found = found || a == s
	}
	if !found {
		s = allowed[0]
	}
	n, _ := strconv.Atoi(s[:len(s)-1])
	unit := time.Hour
	if strings.HasSuffix(s, "d") {
		unit = 24 * time.Hour
	}
	return s, time.Duration(n) * unit
}

// overviewPage is the data of the overview dashboard.
type overviewPage struct {
	View
	pageLinks
	Range   string
	Ranges  []string
	Refresh int
	O       *service.Overview
	// Charts.
	Logins, Failures, Proxy, TopSources, TopAccounts, Countries template.HTML
	TotalSuccess, TotalFailure                                  int64
	ParseErrors                                                 int64
	// Failed is the query of failed logons, for the search links.
	Failed string
}

// overview serves the mail-service overview dashboard.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	v := c.view(r)
	a, _ := httpx.Actor(r)
	rng, d := pickRange(r, dashRanges)
	ov, err := c.o.Dashboards.Overview(r.Context(), a, service.OverviewQuery{Range: d, Loc: v.Zone})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := overviewPage{View: v, pageLinks: pageLinks{start: ov.Start, end: ov.End}, Range: rng, Ranges: dashRanges, O: ov,
		Failed: "event.category:authentication event.outcome:failure"}
	if r.URL.Query().Get("refresh") == "1" {
		p.Refresh = dashRefresh
	}
	p.Logins, p.Failures = loginCharts(v, "ov", ov.Timeline, "dash.empty.logins", 440)
	for _, s := range ov.Timeline.Series {
		p.TotalSuccess += s.TotalSuccess
		p.TotalFailure += s.TotalFailure
	}
	for _, e := range ov.ParseErrors {
		p.ParseErrors += e.Count
	}
	// Requests per second: each bucket's count over its width.
	var proxy []chart.Series
	for i, s := range ov.ProxyRate.Series {
		vals := floats(s.Counts)
		for j := range vals {
			vals[j] /= float64(max(ov.ProxyRate.StepSec, 1))
		}
		proxy = append(proxy, chart.Series{Name: s.Name, Values: vals, Color: chart.Palette[(i+3)%len(chart.Palette)]})
	}
	p.Proxy = (&chart.TimeSeries{ID: "ov-proxy", Title: v.T("dash.chart.proxy"), Times: ov.ProxyRate.Buckets,
		Step: time.Duration(ov.ProxyRate.StepSec) * time.Second, Series: proxy, Loc: v.Zone, Width: 440, Height: 170,
		Empty: v.T("dash.empty.proxy"), Format: perSecond}).SVG()
	var bars []chart.BarItem
	for _, s := range ov.TopSources {
		note := v.T("dash.users_n", s.Users)
		if s.Country != "" {
			note = s.Country + " · " + note
		}
		bars = append(bars, chart.BarItem{Label: s.IP, Value: float64(s.Failures), Href: p.IPURL(s.IP), Note: note})
	}
	p.TopSources = (&chart.Bars{ID: "ov-src", Title: v.T("dash.top_sources"), Bars: bars, Color: chart.Palette[5], Empty: v.T("dash.empty.failures")}).SVG()
	bars = nil
	for _, s := range ov.TopAccounts {
		bars = append(bars, chart.BarItem{Label: s.User, Value: float64(s.Failures), Href: p.UserURL(s.User), Note: v.T("dash.sources_n", s.Sources)})
	}
	p.TopAccounts = (&chart.Bars{ID: "ov-acc", Title: v.T("dash.top_accounts"), Bars: bars, Color: chart.Palette[5], Empty: v.T("dash.empty.failures")}).SVG()
	bars = nil
	for _, s := range ov.Countries {
		name := s.Country
		if name == "" {
			name = v.T("dash.country.unknown")
		}
		bars = append(bars, chart.BarItem{Label: name, Value: float64(s.Events), Note: v.T("dash.addresses_n", s.Addresses)})
		if len(bars) == 10 {
			break
		}
	}
	p.Countries = (&chart.Bars{ID: "ov-cc", Title: v.T("dash.countries"), Bars: bars, Color: chart.Palette[2], Empty: v.T("dash.empty.logins")}).SVG()
	c.render(w, r, "dash", p)
}

// entityPage is the data of an entity page.
type entityPage struct {
	View
	pageLinks
	Range  string
	Ranges []string
	E      *service.EntityPage
	// Filter is the entity's search query.
	Filter           string
	Logins, Failures template.HTML
}

// AddrSearch links the search for the entity's events from one address.
func (p entityPage) AddrSearch(ip string) string {
	return p.SearchURL(p.Filter + " source.ip:=" + strconv.Quote(ip))
}

// entity serves /entity/{user|ip|device}/{value}.
func (c *Console) entity(w http.ResponseWriter, r *http.Request) {
	v := c.view(r)
	a, _ := httpx.Actor(r)
	rng, d := pickRange(r, entityRanges)
	now := c.o.Now()
	e, err := c.o.Dashboards.Entity(r.Context(), a, service.EntityQuery{Kind: service.EntityKind(r.PathValue("kind")),
		Value: r.PathValue("value"), Start: now.Add(-d), End: now, Loc: v.Zone})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := entityPage{View: v, pageLinks: pageLinks{start: e.Start, end: e.End}, Range: rng, Ranges: entityRanges, E: e}
	field := map[service.EntityKind]string{service.EntityKindUser: "user.name", service.EntityKindIP: "source.ip", service.EntityKindDevice: "device.id"}[e.Kind]
	p.Filter = field + ":=" + strconv.Quote(e.Value)
	p.Logins, p.Failures = loginCharts(v, "en", e.Timeline, "entity.empty.logins", 660)
	c.render(w, r, "entity", p)
}
