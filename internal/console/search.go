package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/console/chart"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
)

// searchRoutes registers the search page (docs/console.md, "Search").
func (c *Console) searchRoutes(mux *Mux) {
	if c.o.Searches == nil {
		return
	}
	mux.HandleFunc("GET /search", PermRead, c.search)
}

// Bounds of the search page.
const (
	searchPageSize = 100
	searchTopN     = 5
	maxColumns     = 12
)

// defaultColumns are the table's columns when the URL names none.
var defaultColumns = []string{"host.hostname", "user.name", "source.ip", "event.action", "event.outcome", "_msg"}

// searchRanges are the relative ranges offered as links.
var searchRanges = []string{"15m", "1h", "24h", "7d"}

// searchPage is the data of web/templates/search.html.
type searchPage struct {
	View
	// The search as the URL has it.
	Q, Start, End, Scope string
	Columns              []string
	params               url.Values
	cursor               string

	Ranges   []linkView
	Examples []linkView
	Err      string

	// What it found.
	From, To      time.Time
	Total         uint64
	Step          string
	Histogram     template.HTML
	ZoomOut       string
	Rows          []rowView
	Piped         bool
	PipedColumns  []string
	More, Newest  string
	Fields        []fieldView
	FieldsFrom    time.Time
	FieldsSampled bool
	Open          *eventView
	OpenErr       string
	// Failed are the peers whose events are missing (cluster.peers).
	Failed []service.NodeFailure

	// Heads are the table's columns with their remove links; Colspan
	// spans them all with the time.
	Heads        []linkView
	Colspan      int
	ColumnsParam string
	ZoneAbbr     string

	ExportCSV, ExportJSONL string
	ExportMax              string
	TailSrc, TailColumns   string
}

// TailZone names the user's zone for the browser's clock (Intl): its
// IANA name, or for the machine's zone ("Local") and unnamed zones the
// Etc/GMT zone of its offset now (UTC for offsets of part hours).
func (p *searchPage) TailZone() string {
	if name := p.Zone.String(); name != "Local" && name != "" {
		if _, err := time.LoadLocation(name); err == nil {
			return name
		}
	}
	_, off := p.Now.In(p.Zone).Zone()
	if off == 0 || off%3600 != 0 {
		return "UTC"
	}
	// Etc/GMT zones count the other way: Etc/GMT-8 is UTC+08:00.
	return fmt.Sprintf("Etc/GMT%+d", -off/3600)
}

type linkView struct {
	Label, Title, Href string
	Active             bool
}

// rowView is one row of the result table.
type rowView struct {
	Time  time.Time
	Cells []string
	// Href opens the event on the page (without JavaScript).
	Href   string
	RawSrc string
	Block  fieldsBlock
}

// fieldsBlock is the "search-fields" template's data: an event's fields.
type fieldsBlock struct {
	Fields   []fieldValueView
	AddTitle string
}

type fieldValueView struct {
	Name, Value   string
	In, Out, AddC string
}

// fieldView is a field of the sidebar.
type fieldView struct {
	Name     string
	IsColumn bool
	// Column adds or removes the field as a column.
	Column, ColumnTitle string
	Values              []valueView
}

type valueView struct {
	Value   string
	Count   uint64
	Percent int
	In, Out string
}

// eventView is the event opened on the page.
type eventView struct {
	ID      string
	Time    time.Time
	Block   fieldsBlock
	Raw     string
	RawNote string
	// Decoded says which charset Raw was decoded from ("" for UTF-8).
	Decoded string
	Around  string
	Close   string
}

// search serves /search: the query box, the histogram, the field
// sidebar and a page of events, all bounded; q, start, end, scope,
// columns and the cursor are in the URL.
func (c *Console) search(w http.ResponseWriter, r *http.Request) {
	v := c.view(r)
	q := r.URL.Query()
	p := &searchPage{View: v, Q: q.Get("q"), Start: q.Get("start"), End: q.Get("end"), Scope: q.Get("scope")}
	if p.Start == "" {
		p.Start = "24h"
	}
	p.Columns = columnsOf(q.Get("columns"))
	p.cursor = q.Get("cursor")
	p.params = url.Values{}
	p.params.Set("q", p.Q)
	p.params.Set("start", p.Start)
	if p.End != "" {
		p.params.Set("end", p.End)
	}
	if p.Scope != "" && p.Scope != "events" {
		p.params.Set("scope", p.Scope)
	}
	if cols := q.Get("columns"); cols != "" {
		p.ColumnsParam = strings.Join(p.Columns, ",")
		p.params.Set("columns", p.ColumnsParam)
	}
	p.ZoneAbbr, _ = v.Now.In(v.Zone).Zone()
	for _, rg := range searchRanges {
		p.Ranges = append(p.Ranges, linkView{Label: rg, Title: v.T("search.range.last", rg),
			Href: p.link(map[string]string{"start": rg, "end": "", "cursor": ""}), Active: p.Start == rg && p.End == ""})
	}
	for _, ex := range service.Examples {
		p.Examples = append(p.Examples, linkView{Label: v.T("search.example." + ex.Key), Title: ex.Query,
			Href: p.link(map[string]string{"q": ex.Query, "cursor": ""})})
	}
	p.ExportMax = v.Num(c.o.Searches.ExportRows())

	s := c.o.Searches
	req, err := s.NewSearchRequestIn(p.Q, p.Start, p.End, p.Scope, v.Zone)
	if err != nil {
		p.Err = err.Error()
		c.render(w, r, "search", p)
		return
	}
	p.From, p.To = req.Start, req.End
	export := func(format string) string {
		e := url.Values{"q": {p.Q}, "start": {p.params.Get("start")}, "format": {format}}
		if p.End != "" {
			e.Set("end", p.End)
		}
		if p.Scope != "" {
			e.Set("scope", p.Scope)
		}
		if q.Get("columns") != "" {
			e.Set("columns", strings.Join(append([]string{"_time"}, p.Columns...), ","))
		}
		return "/api/v1/search/export?" + e.Encode()
	}
	p.ExportCSV, p.ExportJSONL = export(service.FormatCSV), export(service.FormatJSONL)

	if id := q.Get("event"); id != "" {
		p.openEvent(r.Context(), s, id, q.Get("at"), q.Get("node"))
	}

	// The page runs beside the histogram and then the sidebar (within
	// the search limits: they take two of its slots).
	ctx := r.Context()
	var (
		wg                  sync.WaitGroup
		page                *service.Page
		hist                *service.Histogram
		fields              *service.FieldStats
		pageErr, hErr, fErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		page, pageErr = s.Page(ctx, v.Actor, req, searchPageSize, q.Get("cursor"))
	}()
	if !service.HasPipes(p.Q) {
		_, off := req.Start.In(v.Zone).Zone()
		wg.Add(1)
		go func() {
			// The sidebar samples by the histogram's counts.
			defer wg.Done()
			if hist, hErr = s.Histogram(ctx, v.Actor, req, time.Duration(off)*time.Second); hErr == nil {
				fields, fErr = s.Fields(ctx, v.Actor, req, searchTopN, hist)
			}
		}()
	}
	wg.Wait()
	if err := firstErr(pageErr, hErr, fErr); err != nil {
		if code, _ := httpx.Status(err); code >= 500 && !errors.Is(err, context.Canceled) {
			c.log.Error("console: search", "query", p.Q, "err", err)
		}
		if code, msg := httpx.Status(err); code != http.StatusForbidden {
			p.Err = msg
			c.render(w, r, "search", p)
			return
		}
		c.fail(w, r, err)
		return
	}
	p.fill(page, hist, fields)
	p.Failed = page.Failed
	if hist != nil {
		p.Failed = failedPeers(p.Failed, hist.Failed)
	}
	if fields != nil {
		p.Failed = failedPeers(p.Failed, fields.Failed)
	}
	p.TailSrc = "/api/v1/search/tail?" + url.Values{"q": {p.Q}, "scope": {p.Scope}}.Encode()
	cols, _ := json.Marshal(p.Columns)
	p.TailColumns = string(cols)
	c.render(w, r, "search", p)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fill turns the service's answers into the page's rows, bars and fields.
func (p *searchPage) fill(page *service.Page, hist *service.Histogram, fields *service.FieldStats) {
	v := p.View
	p.Piped = page.Piped
	if page.Piped {
		for _, e := range page.Events {
			for _, f := range e.Fields {
				if !slices.Contains(p.PipedColumns, f.Name) {
					p.PipedColumns = append(p.PipedColumns, f.Name)
				}
			}
		}
	}
	cols := p.Columns
	if p.Piped {
		cols = p.PipedColumns
	}
	for _, col := range cols {
		h := linkView{Label: col}
		if !p.Piped && len(cols) > 1 {
			h.Href, h.Title = p.columnLink(col, false), p.T("search.col.remove", col)
		}
		p.Heads = append(p.Heads, h)
	}
	p.Colspan = len(cols) + 1
	for _, e := range page.Events {
		row := rowView{Time: e.Time}
		for _, col := range cols {
			row.Cells = append(row.Cells, e.Get(col))
		}
		if e.ID != "" {
			row.Href = p.link(map[string]string{"event": e.ID, "at": e.Time.UTC().Format(time.RFC3339Nano), "node": e.Node})
			row.RawSrc = "/api/v1/events/" + e.ID + "?at=" + url.QueryEscape(e.Time.UTC().Format(time.RFC3339Nano))
			if e.Node != "" {
				row.RawSrc += "&node=" + url.QueryEscape(e.Node)
			}
		}
		if !p.Piped {
			row.Block = p.fieldValues(e.Fields)
		}
		p.Rows = append(p.Rows, row)
	}
	if page.More {
		p.More = p.link(map[string]string{"cursor": page.Cursor})
	}
	if p.cursor != "" {
		p.Newest = p.link(map[string]string{"cursor": ""})
	}
	if hist != nil {
		p.Total = hist.Total
		p.Step = stepText(hist.Step)
		h := chart.Histogram{Step: hist.Step, Start: hist.Start, End: hist.End, Loc: v.Zone,
			Label: v.T("search.histogram.label"),
			Href: func(s, e time.Time) string {
				return p.link(map[string]string{"start": s.UTC().Format(time.RFC3339), "end": e.UTC().Format(time.RFC3339), "cursor": "", "event": "", "at": "", "node": ""})
			},
			Title: func(s, e time.Time, n uint64) string {
				return v.T("search.histogram.bar", v.Time(s), v.Time(e), v.Num(n))
			},
		}
		h.Zoom = strings.NewReplacer("%7Bstart%7D", "{start}", "%7Bend%7D", "{end}").Replace(
			p.link(map[string]string{"start": "{start}", "end": "{end}", "cursor": "", "event": "", "at": "", "node": ""}))
		for _, b := range hist.Buckets {
			h.Bars = append(h.Bars, chart.Bar{Start: b.Time, Count: b.Count})
		}
		p.Histogram = h.SVG()
		d := hist.End.Sub(hist.Start)
		out := map[string]string{"start": hist.Start.Add(-d / 2).UTC().Format(time.RFC3339), "cursor": ""}
		if end := hist.End.Add(d / 2); end.Before(v.Now) {
			out["end"] = end.UTC().Format(time.RFC3339)
		} else {
			out["end"] = ""
		}
		p.ZoomOut = p.link(out)
	}
	if fields != nil {
		p.FieldsFrom, p.FieldsSampled = fields.From, fields.Sampled
		for _, f := range fields.Fields {
			fv := fieldView{Name: f.Name, IsColumn: slices.Contains(p.Columns, f.Name)}
			fv.Column = p.columnLink(f.Name, !fv.IsColumn)
			fv.ColumnTitle = p.T("search.col.add")
			if fv.IsColumn {
				fv.ColumnTitle = p.T("search.col.remove", f.Name)
			}
			var sum uint64
			for _, val := range f.Values {
				sum += val.Count
			}
			for _, val := range f.Values {
				pct := 0
				if p.Total > 0 {
					pct = int(val.Count * 100 / max(p.Total, sum))
				}
				fv.Values = append(fv.Values, valueView{Value: val.Value, Count: val.Count, Percent: pct,
					In:  p.link(map[string]string{"q": service.AddFilter(p.Q, service.FilterFor(f.Name, val.Value, false)), "cursor": ""}),
					Out: p.link(map[string]string{"q": service.AddFilter(p.Q, service.FilterFor(f.Name, val.Value, true)), "cursor": ""})})
			}
			p.Fields = append(p.Fields, fv)
		}
	}
}

// fieldValues are the fields of an event with their filter links.
func (p *searchPage) fieldValues(fields []store.Field) fieldsBlock {
	out := make([]fieldValueView, 0, len(fields))
	for _, f := range fields {
		fv := fieldValueView{Name: f.Name, Value: f.Value}
		if f.Name != "_msg" && len(f.Value) <= 200 {
			fv.In = p.link(map[string]string{"q": service.AddFilter(p.Q, service.FilterFor(f.Name, f.Value, false)), "cursor": "", "event": "", "at": "", "node": ""})
			fv.Out = p.link(map[string]string{"q": service.AddFilter(p.Q, service.FilterFor(f.Name, f.Value, true)), "cursor": "", "event": "", "at": "", "node": ""})
		}
		if !slices.Contains(p.Columns, f.Name) {
			fv.AddC = p.columnLink(f.Name, true)
		}
		out = append(out, fv)
	}
	return fieldsBlock{Fields: out, AddTitle: p.T("search.col.add")}
}

// openEvent fills the panel of the event the URL names.
func (p *searchPage) openEvent(ctx context.Context, s *service.Searches, id, at, node string) {
	var t time.Time
	if at != "" {
		t, _ = time.Parse(time.RFC3339Nano, at)
	}
	d, err := s.Event(ctx, p.Actor, id, t, node)
	if err != nil {
		if code, msg := httpx.Status(err); code == http.StatusNotFound {
			p.OpenErr = p.T("search.event.notfound")
		} else {
			p.OpenErr = msg
		}
		return
	}
	ev := &eventView{ID: d.ID, Time: d.Time, Block: p.fieldValues(d.Fields), RawNote: d.RawNote,
		Close: p.link(map[string]string{"event": "", "at": "", "node": ""})}
	if d.Raw != nil {
		ev.Raw = d.RawText
		if d.RawCharset != charset.UTF8 {
			ev.Decoded = p.T("search.event.raw.decoded", d.RawCharset.String())
		}
	}
	ev.Around = p.link(map[string]string{"q": "", "start": d.Time.Add(-5 * time.Minute).UTC().Format(time.RFC3339),
		"end": d.Time.Add(5 * time.Minute).UTC().Format(time.RFC3339), "cursor": "", "event": d.ID, "at": d.Time.UTC().Format(time.RFC3339Nano), "node": d.Node})
	p.Open = ev
}

// link returns /search with the page's parameters changed by set ("" removes one).
func (p *searchPage) link(set map[string]string) string {
	v := url.Values{}
	for k, vals := range p.params {
		v[k] = slices.Clone(vals)
	}
	for k, val := range set {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	if v.Get("q") == "" {
		v.Del("q")
	}
	if len(v) == 0 {
		return "/search"
	}
	return "/search?" + v.Encode()
}

// columnLink adds (or removes) a column.
func (p *searchPage) columnLink(name string, add bool) string {
	cols := slices.Clone(p.Columns)
	if add {
		if len(cols) >= maxColumns {
			return ""
		}
		// Before the message, which is widest.
		if i := slices.Index(cols, "_msg"); i >= 0 {
			cols = slices.Insert(cols, i, name)
		} else {
			cols = append(cols, name)
		}
	} else {
		cols = slices.DeleteFunc(cols, func(c string) bool { return c == name })
	}
	return p.link(map[string]string{"columns": strings.Join(cols, ",")})
}

// columnsOf reads the columns parameter, or the default columns.
func columnsOf(s string) []string {
	var cols []string
	for c := range strings.SplitSeq(s, ",") {
		if c = strings.TrimSpace(c); c != "" && c != "_time" && !slices.Contains(cols, c) && len(cols) < maxColumns {
			cols = append(cols, c)
		}
	}
	if len(cols) == 0 {
		return slices.Clone(defaultColumns)
	}
	return cols
}

// stepText writes a histogram step briefly: 30s, 15m, 1h, 2d.
func stepText(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// failedPeers lists each failed peer once, with its first error.
func failedPeers(lists ...[]service.NodeFailure) []service.NodeFailure {
	var out []service.NodeFailure
	for _, l := range lists {
		for _, f := range l {
			if !slices.ContainsFunc(out, func(o service.NodeFailure) bool { return o.Node == f.Node }) {
				out = append(out, f)
			}
		}
	}
	return out
}
