package api

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// searchServer serves 120 login events of the last hour (seq 1..120)
// with the console's search endpoints.
func searchServer(t *testing.T) (*Server, *httptest.Server, time.Time) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rows []store.Row
	for i := range 120 {
		outcome := "success"
		if i%4 == 0 {
			outcome = "failure"
		}
		rows = append(rows, store.Row{Time: now.Add(-time.Duration(i) * 30 * time.Second), Fields: []store.Field{
			{Name: "_msg", Value: fmt.Sprintf("login %d", i)}, {Name: "vigil.seq", Value: strconv.Itoa(i + 1)},
			{Name: "user.name", Value: []string{"zhangwei", "lina", "o'brien"}[i%3]}, {Name: "event.outcome", Value: outcome},
		}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	raw := func(_ context.Context, from uint64, _ int, fn func(*journal.Record) error) error {
		if from == 5 { // from a GBK sender: 张三
			return fn(&journal.Record{Seq: from, Time: now, Input: "win", Data: []byte("<13>raw \xd5\xc5\xc8\xfd")})
		}
		return fn(&journal.Record{Seq: from, Time: now, Input: "syslog", Data: []byte("<13>raw " + strconv.FormatUint(from, 10))})
	}
	searches := service.NewSearches(search.New(st, search.Limits{}, nil), service.SearchOptions{Raw: raw, JournalID: 7,
		Charsets: charset.Inputs{"win": charset.GBK}})
	s, err := New(st, Options{Tokens: []string{token}, Searches: searches}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts, now
}

func getJSON(t *testing.T, ts *httptest.Server, path string, code int, v any) string {
	t.Helper()
	resp, body := get(t, ts, path, token)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, code)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return body
}

type hitsBody struct {
	Events []struct {
		ID     string            `json:"id"`
		Time   time.Time         `json:"time"`
		Fields map[string]string `json:"fields"`
	} `json:"events"`
	More   bool   `json:"more"`
	Cursor string `json:"cursor"`
}

func TestSearchHitsPages(t *testing.T) {
	_, ts, _ := searchServer(t)
	var seen int
	cursor := ""
	for range 20 {
		var h hitsBody
		getJSON(t, ts, "/api/v1/search/hits?q=login&start=2h&size=50&columns=_msg,user.name&cursor="+url.QueryEscape(cursor), 200, &h)
		for _, e := range h.Events {
			if len(e.Fields) != 2 || !strings.HasPrefix(e.ID, "0000000000000007") {
				t.Fatalf("event %+v", e)
			}
		}
		seen += len(h.Events)
		if !h.More {
			break
		}
		cursor = h.Cursor
	}
	if seen != 120 {
		t.Errorf("pages held %d events, want 120", seen)
	}
	for _, bad := range []string{"size=501", "size=x", "start=yesterday", "scope=all", "cursor=zz", "q=" + url.QueryEscape(`a:"b`)} {
		body := getJSON(t, ts, "/api/v1/search/hits?"+bad, 400, nil)
		if bad[0] == 'q' && !strings.Contains(body, "hint") {
			t.Errorf("%s: %s, want a hint", bad, body)
		}
	}
}

func TestSearchHistogramFieldsTop(t *testing.T) {
	_, ts, _ := searchServer(t)
	var h struct {
		StepSeconds int64            `json:"step_seconds"`
		Total       uint64           `json:"total"`
		Buckets     []service.Bucket `json:"buckets"`
	}
	getJSON(t, ts, "/api/v1/search/histogram?q=event.outcome:=failure&start=1h&tz=Asia/Shanghai", 200, &h)
	if h.StepSeconds != 30 || h.Total != 30 || len(h.Buckets) < 120 {
		t.Errorf("histogram: step %d total %d buckets %d", h.StepSeconds, h.Total, len(h.Buckets))
	}
	getJSON(t, ts, "/api/v1/search/histogram?tz=Mars/Olympus", 400, nil)

	var fs struct {
		Fields []service.FieldValues `json:"fields"`
	}
	getJSON(t, ts, "/api/v1/search/fields?start=2h&top=3", 200, &fs)
	found := false
	for _, f := range fs.Fields {
		if f.Name == "user.name" && len(f.Values) == 3 && f.Values[0].Count == 40 {
			found = true
		}
	}
	if !found {
		t.Errorf("fields: %+v", fs)
	}
	var top service.FieldValues
	getJSON(t, ts, "/api/v1/search/top?field=event.outcome&n=1&start=2h", 200, &top)
	if len(top.Values) != 1 || top.Values[0] != (service.ValueCount{Value: "success", Count: 90}) {
		t.Errorf("top: %+v", top)
	}
	getJSON(t, ts, "/api/v1/search/top?start=2h", 400, nil)
	var ex []service.Example
	getJSON(t, ts, "/api/v1/search/examples", 200, &ex)
	if len(ex) == 0 {
		t.Error("no examples")
	}
}

func TestSearchEventAndRaw(t *testing.T) {
	_, ts, now := searchServer(t)
	id := fmt.Sprintf("%016x%016x", 7, 3)
	var ev struct {
		ID     string            `json:"id"`
		Fields map[string]string `json:"fields"`
		Raw    map[string]string `json:"raw"`
	}
	getJSON(t, ts, "/api/v1/events/"+id+"?at="+now.Add(-time.Minute).Format(time.RFC3339Nano), 200, &ev)
	if ev.ID != id || ev.Fields["_msg"] != "login 2" || ev.Raw["data"] != "<13>raw 3" || ev.Raw["seq"] != "3" {
		t.Errorf("event: %+v", ev)
	}
	if body := getJSON(t, ts, "/api/v1/events/"+id, 200, nil); strings.Contains(body, "raw_text") {
		t.Errorf("an event of a UTF-8 input has raw_text: %s", body)
	}
	// An event of an input with a charset: the bytes as received, and
	// their text.
	var gbk struct {
		Raw        map[string]string `json:"raw"`
		RawText    string            `json:"raw_text"`
		RawCharset string            `json:"raw_charset"`
	}
	getJSON(t, ts, "/api/v1/events/"+fmt.Sprintf("%016x%016x", 7, 5), 200, &gbk)
	if gbk.RawText != "<13>raw 张三" || gbk.RawCharset != "GBK" || gbk.Raw["data_base64"] != base64.StdEncoding.EncodeToString([]byte("<13>raw \xd5\xc5\xc8\xfd")) {
		t.Errorf("event of a GBK input: %+v", gbk)
	}
	getJSON(t, ts, "/api/v1/events/"+fmt.Sprintf("%016x%016x", 7, 999), 404, nil)
	getJSON(t, ts, "/api/v1/events/xyz", 400, nil)
	getJSON(t, ts, "/api/v1/events/"+id+"?at=noon", 400, nil)
}

func TestSearchTailAPI(t *testing.T) {
	_, ts, _ := searchServer(t)
	var tail struct {
		Events []json.RawMessage `json:"events"`
		Cursor string            `json:"cursor"`
	}
	getJSON(t, ts, "/api/v1/search/tail?q=login", 200, &tail)
	if tail.Cursor != "120" || len(tail.Events) != 0 {
		t.Fatalf("tail start: %+v", tail)
	}
	getJSON(t, ts, "/api/v1/search/tail?q=login&cursor=100&wait=1s", 200, &tail)
	if tail.Cursor != "120" || len(tail.Events) != 20 {
		t.Fatalf("tail: cursor %s, %d events", tail.Cursor, len(tail.Events))
	}
	getJSON(t, ts, "/api/v1/search/tail?wait=1h", 400, nil)
}

func TestSearchExportAPI(t *testing.T) {
	_, ts, _ := searchServer(t)
	resp, body := get(t, ts, "/api/v1/search/export?format=csv&start=2h&q=event.outcome:=failure&columns=_time,user.name", token)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv export: %d %v", resp.StatusCode, resp.Header)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 31 || recs[0][1] != "user.name" {
		t.Fatalf("csv: %d records %v: %s", len(recs), err, body[:min(len(body), 200)])
	}
	resp, body = get(t, ts, "/api/v1/search/export?start=2h", token)
	if resp.StatusCode != 200 || strings.Count(body, "\n") != 120 {
		t.Errorf("jsonl export: %d, %d lines", resp.StatusCode, strings.Count(body, "\n"))
	}
	getJSON(t, ts, "/api/v1/search/export?format=xml", 400, nil)
	getJSON(t, ts, "/api/v1/search/export?q="+url.QueryEscape("(a"), 400, nil)
}

// Every role reads; an actor without a role is refused; no token, no answer.
func TestSearchRoles(t *testing.T) {
	s, ts, _ := searchServer(t)
	paths := []string{"/api/v1/search/hits", "/api/v1/search/histogram", "/api/v1/search/fields",
		"/api/v1/search/top?field=user.name", "/api/v1/search/tail", "/api/v1/search/export", "/api/v1/search/examples",
		"/api/v1/events/" + strings.Repeat("0", 31) + "1"}
	for _, p := range paths {
		if resp, _ := get(t, ts, p, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", p, resp.StatusCode)
		}
	}
	handlers := map[string]http.HandlerFunc{"hits": s.searchHits, "histogram": s.searchHistogram, "fields": s.searchFields,
		"top": s.searchTop, "tail": s.searchTail, "export": s.searchExport, "event": s.event}
	for _, role := range []service.Role{service.RoleAdmin, service.RoleAnalyst, service.RoleViewer, ""} {
		for name, h := range handlers {
			r := httptest.NewRequest(http.MethodGet, "/x?start=2h&field=user.name", nil)
			r.SetPathValue("id", fmt.Sprintf("%016x%016x", 7, 1))
			w := httptest.NewRecorder()
			h(w, httpx.WithActor(r, service.Actor{Name: "u", Role: role, Via: "api"}))
			want := http.StatusOK
			if role == "" {
				want = http.StatusForbidden
			}
			if w.Code != want {
				t.Errorf("%s as %q: %d %s, want %d", name, role, w.Code, w.Body, want)
			}
		}
	}
}
