package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeSearch registers the search endpoints of the console
// (docs/api.md, "Search for the console") when Options.Searches is set.
func (s *Server) routeSearch() {
	if s.opts.Searches == nil {
		return
	}
	for path, h := range map[string]http.HandlerFunc{
		"GET /api/v1/search/hits":      s.searchHits,
		"GET /api/v1/search/histogram": s.searchHistogram,
		"GET /api/v1/search/fields":    s.searchFields,
		"GET /api/v1/search/top":       s.searchTop,
		"GET /api/v1/search/tail":      s.searchTail,
		"GET /api/v1/search/export":    s.searchExport,
		"GET /api/v1/search/examples":  s.searchExamples,
		"GET /api/v1/events/{id}":      s.event,
	} {
		s.mux.HandleFunc(path, service.PermRead, h)
	}
}

// searchRequest reads q, start, end, scope and tz (the zone of start and
// end without an offset).
func (s *Server) searchRequest(r *http.Request) (service.SearchRequest, error) {
	v := r.URL.Query()
	loc, err := zone(v.Get("tz"))
	if err != nil {
		return service.SearchRequest{}, err
	}
	return s.searches(r).NewSearchRequestIn(v.Get("q"), v.Get("start"), v.Get("end"), v.Get("scope"), loc)
}

// intParam reads a positive number parameter, def when absent.
func intParam(v url.Values, name string, def, most int) (int, error) {
	p := v.Get(name)
	if p == "" {
		return def, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > most {
		return 0, service.Invalidf("%s: want a number from 1 to %d", name, most)
	}
	return n, nil
}

// columnsParam reads the comma-separated field names of columns.
func columnsParam(v url.Values) []string {
	var cols []string
	for c := range strings.SplitSeq(v.Get("columns"), ",") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// eventJSON is an event as the API gives it: its fields as an object,
// in the store's order (or the chosen columns').
type eventJSON struct {
	e       *service.Event
	columns []string
}

func (j eventJSON) MarshalJSON() ([]byte, error) {
	b := append([]byte(nil), '{')
	if j.e.ID != "" {
		b = eventjson.AppendString(append(b, `"id":`...), j.e.ID)
		b = append(b, ',')
	}
	if j.e.Node != "" {
		b = eventjson.AppendString(append(b, `"node":`...), j.e.Node)
		b = append(b, ',')
	}
	b = append(b, `"time":"`...)
	b = j.e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","fields":{`...)
	add := func(first bool, name, value string) {
		if !first {
			b = append(b, ',')
		}
		b = append(eventjson.AppendString(b, name), ':')
		b = eventjson.AppendString(b, value)
	}
	if len(j.columns) == 0 {
		for i, f := range j.e.Fields {
			add(i == 0, f.Name, f.Value)
		}
	} else {
		for i, c := range j.columns {
			add(i == 0, c, j.e.Get(c))
		}
	}
	return append(b, "}}"...), nil
}

func eventsJSON(evs []service.Event, columns []string) []eventJSON {
	out := make([]eventJSON, len(evs))
	for i := range evs {
		out[i] = eventJSON{e: &evs[i], columns: columns}
	}
	return out
}

// searchHits answers one page of events, newest first:
// GET /api/v1/search/hits?q=&start=&end=&scope=&size=&cursor=&columns=
func (s *Server) searchHits(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	req, err := s.searchRequest(r)
	v := r.URL.Query()
	size := 0
	if err == nil {
		size, err = intParam(v, "size", service.DefaultPageSize, service.MaxPageSize)
	}
	var p *service.Page
	if err == nil {
		p, err = s.searches(r).Page(r.Context(), a, req, size, v.Get("cursor"))
	}
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, struct {
		Events []eventJSON           `json:"events"`
		More   bool                  `json:"more"`
		Cursor string                `json:"cursor,omitempty"`
		Piped  bool                  `json:"piped,omitempty"`
		Failed []service.NodeFailure `json:"failed,omitempty"`
	}{eventsJSON(p.Events, columnsParam(v)), p.More, p.Cursor, p.Piped, p.Failed})
}

// searchHistogram answers the counts of a search over time:
// GET /api/v1/search/histogram?q=&start=&end=&scope=&tz=Asia/Shanghai
func (s *Server) searchHistogram(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	req, err := s.searchRequest(r)
	var offset time.Duration
	if err == nil {
		offset, err = zoneOffset(r.URL.Query().Get("tz"), req.Start)
	}
	var h *service.Histogram
	if err == nil {
		h, err = s.searches(r).Histogram(r.Context(), a, req, offset)
	}
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, struct {
		Start       time.Time             `json:"start"`
		End         time.Time             `json:"end"`
		StepSeconds int64                 `json:"step_seconds"`
		Total       uint64                `json:"total"`
		Buckets     []service.Bucket      `json:"buckets"`
		Failed      []service.NodeFailure `json:"failed,omitempty"`
	}{h.Start.UTC(), h.End.UTC(), int64(h.Step / time.Second), h.Total, h.Buckets, h.Failed})
}

// zoneOffset returns the offset from UTC of the time zone named tz
// (IANA, e.g. Asia/Shanghai; "" is UTC) at t.
func zoneOffset(tz string, t time.Time) (time.Duration, error) {
	if tz == "" {
		return 0, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return 0, service.Invalidf("tz: %q is not a time zone name like Asia/Shanghai", tz)
	}
	_, off := t.In(loc).Zone()
	return time.Duration(off) * time.Second, nil
}

// searchFields answers the field sidebar: fields with their top values.
// GET /api/v1/search/fields?q=&start=&end=&scope=&top=5
func (s *Server) searchFields(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	req, err := s.searchRequest(r)
	top := 0
	if err == nil {
		top, err = intParam(r.URL.Query(), "top", 5, service.MaxTopValues)
	}
	var fs *service.FieldStats
	if err == nil {
		fs, err = s.searches(r).Fields(r.Context(), a, req, top, nil)
	}
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	if fs.Fields == nil {
		fs.Fields = []service.FieldValues{}
	}
	httpx.JSON(w, http.StatusOK, struct {
		From    time.Time             `json:"from"`
		Sampled bool                  `json:"sampled"`
		Fields  []service.FieldValues `json:"fields"`
		Failed  []service.NodeFailure `json:"failed,omitempty"`
	}{fs.From.UTC(), fs.Sampled, fs.Fields, fs.Failed})
}

// searchTop answers the most frequent values of one field:
// GET /api/v1/search/top?field=source.ip&n=10&q=&start=&end=&scope=
func (s *Server) searchTop(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	req, err := s.searchRequest(r)
	n := 0
	if err == nil {
		n, err = intParam(r.URL.Query(), "n", 10, service.MaxTopValues)
	}
	var top *service.FieldValues
	if err == nil {
		top, err = s.searches(r).Top(r.Context(), a, req, r.URL.Query().Get("field"), n)
	}
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	if top.Values == nil {
		top.Values = []service.ValueCount{}
	}
	httpx.JSON(w, http.StatusOK, top)
}

// searchTail answers the events that arrived after a cursor, waiting up
// to wait for some: GET /api/v1/search/tail?q=&scope=&cursor=&wait=20s
func (s *Server) searchTail(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	req, err := s.searchRequest(r)
	v := r.URL.Query()
	var wait time.Duration
	if err == nil && v.Get("wait") != "" {
		if wait, err = time.ParseDuration(v.Get("wait")); err != nil || wait < 0 || wait > service.MaxTailWait {
			err = service.Invalidf("wait: a duration from 0s to %s", service.MaxTailWait)
		}
	}
	var t *service.TailResult
	if err == nil {
		t, err = s.searches(r).Tail(r.Context(), a, req, v.Get("cursor"), wait)
	}
	if err != nil {
		if r.Context().Err() == nil {
			httpx.Fail(w, s.log, r, err)
		}
		return
	}
	httpx.JSON(w, http.StatusOK, struct {
		Events  []eventJSON           `json:"events"`
		Cursor  string                `json:"cursor"`
		Skipped bool                  `json:"skipped,omitempty"`
		Failed  []service.NodeFailure `json:"failed,omitempty"`
	}{eventsJSON(t.Events, columnsParam(v)), t.Cursor, t.Skipped, t.Failed})
}

// searchExport streams the newest events of a search as a download:
// GET /api/v1/search/export?format=csv|jsonl&columns=&q=&start=&end=&scope=
func (s *Server) searchExport(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	req, err := s.searchRequest(r)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	v := r.URL.Query()
	format := v.Get("format")
	if format == "" {
		format = service.FormatJSONL
	}
	ct := "application/x-ndjson"
	if format == service.FormatCSV {
		ct = "text/csv; charset=utf-8"
	}
	lw := &lazyWriter{w: w, start: func() {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", `attachment; filename="vigil-search-`+
			s.opts.Now().UTC().Format("20060102T150405Z")+"."+format+`"`)
		w.WriteHeader(http.StatusOK)
	}}
	_, late, err := s.searches(r).Export(r.Context(), a, req, format, columnsParam(v), lw, func(failed []service.NodeFailure) {
		setFailed(w.Header(), failed)
	})
	if err == nil && len(late) > 0 {
		err = fmt.Errorf("stopped: %s", failedText(late))
	}
	switch {
	case err == nil:
		if !lw.started {
			lw.Write(nil)
		}
	case r.Context().Err() != nil:
	case !lw.started:
		httpx.Fail(w, s.log, r, err)
	default:
		// The download is under way: end it with a line that says why
		// it stopped.
		s.log.Warn("api: export stopped", "err", err)
		if format == service.FormatCSV {
			b, _ := json.Marshal(err.Error())
			_, _ = w.Write(append(append([]byte("#error,"), b...), '\n'))
		} else {
			_, _ = w.Write(append(eventjson.AppendString([]byte(`{"error":`), err.Error()), "}\n"...))
		}
	}
}

// lazyWriter sends the headers of an answer at its first write, so that
// an error before it still gets an error status.
type lazyWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(p)
}

// searchExamples answers example queries for the mail service.
// GET /api/v1/search/examples
func (s *Server) searchExamples(w http.ResponseWriter, r *http.Request) {
	httpx.JSON(w, http.StatusOK, service.Examples)
}

// event answers one event with all its fields and its raw journal record:
// GET /api/v1/events/{id}?at=RFC3339 (its time, optional: faster)&node=
// (the node whose store holds it, optional)
func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	var at time.Time
	var err error
	if p := r.URL.Query().Get("at"); p != "" {
		if at, err = time.Parse(time.RFC3339Nano, p); err != nil {
			httpx.Fail(w, s.log, r, service.Invalidf("at: %q is not an RFC3339 time", p))
			return
		}
	}
	d, err := s.searches(r).Event(r.Context(), a, r.PathValue("id"), at, r.URL.Query().Get("node"))
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	// The event's object, with the raw record (or why there is none).
	b, _ := eventJSON{e: &d.Event}.MarshalJSON()
	b = b[:len(b)-1]
	if d.Raw != nil {
		b = eventjson.AppendRecord(append(b, `,"raw":`...), d.Raw)
		if d.RawCharset != charset.UTF8 {
			// Its text, decoded: the record's data is the bytes as received.
			b = eventjson.AppendString(append(b, `,"raw_text":`...), d.RawText)
			b = eventjson.AppendString(append(b, `,"raw_charset":`...), d.RawCharset.String())
		}
	}
	if d.RawNote != "" {
		b = eventjson.AppendString(append(b, `,"raw_note":`...), d.RawNote)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, "}\n"...))
}
