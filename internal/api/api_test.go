package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

const token = "test-token-0123456789"

func newServer(t *testing.T, now time.Time) *httptest.Server {
	t.Helper()
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rows []store.Row
	for i, m := range []string{"alpha one", "beta two", "gamma three", "delta \"quoted\"\tand\x01ctl"} {
		rows = append(rows, store.Row{Time: now.Add(time.Duration(i-10) * time.Minute), Fields: []store.Field{
			{Name: "_msg", Value: m}, {Name: "n", Value: string(rune('0' + i))},
		}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	alert := store.Row{Time: now.Add(-time.Minute), Fields: []store.Field{{Name: "_msg", Value: "an alert"}, {Name: "event.kind", Value: "alert"}}}
	if err := st.AddAlerts([]store.Row{alert}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_test_total", Help: "t"}))
	s, err := New(st, Options{
		Tokens:   []string{token},
		MaxLimit: 10,
		Gatherer: reg,
		Status:   func() any { return map[string]string{"ok": "yes"} },
		Now:      func() time.Time { return now },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, ts *httptest.Server, path, tok string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSearch(t *testing.T) {
	// The storage engine keeps its retention by the real clock (it takes
	// no clock of ours), so the rows are placed relative to it, never at a
	// fixed date.
	now := time.Now().UTC().Truncate(time.Minute)
	ts := newServer(t, now)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// local writes a time as a person in Shanghai would, without offset.
	local := func(d time.Duration, layout string) string { return now.Add(d).In(shanghai).Format(layout) }
	all := []string{"delta \"quoted\"\tand\x01ctl", "gamma three", "beta two", "alpha one"}
	tests := []struct {
		name     string
		params   url.Values
		tok      string
		code     int
		wantMsgs []string
		wantBody string
	}{
		{"newest first", url.Values{"q": {"*"}}, token, 200, []string{"delta \"quoted\"\tand\x01ctl", "gamma three", "beta two", "alpha one"}, ""},
		{"ascending with limit", url.Values{"q": {"*"}, "order": {"asc"}, "limit": {"2"}}, token, 200, []string{"alpha one", "beta two"}, ""},
		{"word", url.Values{"q": {"beta"}}, token, 200, []string{"beta two"}, ""},
		{"field", url.Values{"q": {"n:2"}}, token, 200, []string{"gamma three"}, ""},
		{"relative start is inclusive", url.Values{"q": {"*"}, "start": {"8m"}}, token, 200, []string{"delta \"quoted\"\tand\x01ctl", "gamma three"}, ""},
		{"rfc3339 range", url.Values{"q": {"*"}, "start": {at(-10 * time.Minute)}, "end": {at(-510 * time.Second)}}, token, 200, []string{"beta two", "alpha one"}, ""},
		{"local range in tz", url.Values{"q": {"*"}, "tz": {"Asia/Shanghai"}, "start": {local(-10*time.Minute, "2006-01-02 15:04:05")},
			"end": {local(-510*time.Second, "2006-01-02T15:04:05")}}, token, 200, []string{"beta two", "alpha one"}, ""},
		{"local range without tz is UTC", url.Values{"q": {"*"}, "start": {now.Add(-10 * time.Minute).Format("2006-01-02 15:04")},
			"end": {now.Add(-9 * time.Minute).Format("2006-01-02T15:04")}}, token, 200, []string{"beta two", "alpha one"}, ""},
		{"local dates in tz: end is the day's end", url.Values{"q": {"*"}, "tz": {"Asia/Shanghai"}, "start": {local(-10*time.Minute, time.DateOnly)},
			"end": {local(-7*time.Minute, time.DateOnly)}}, token, 200, all, ""},
		{"bad tz", url.Values{"tz": {"Mars/Olympus"}}, token, 400, nil, "tz:"},
		{"skipped local time", url.Values{"tz": {"America/New_York"}, "start": {"2026-03-08 02:30"}}, token, 400, nil, "does not exist in America/New_York"},
		{"bad query", url.Values{"q": {"foo:(bar"}}, token, 400, nil, "bad query"},
		{"bad time", url.Values{"start": {"yesterday-ish"}}, token, 400, nil, "start:"},
		{"limit over max", url.Values{"limit": {"11"}}, token, 400, nil, "max_search_limit"},
		{"bad order", url.Values{"order": {"random"}}, token, 400, nil, "order"},
		{"events scope", url.Values{"q": {"alert"}, "scope": {"events"}}, token, 200, nil, ""},
		{"alerts scope", url.Values{"q": {"*"}, "scope": {"alerts"}}, token, 200, []string{"an alert"}, ""},
		{"bad scope", url.Values{"scope": {"everything"}}, token, 400, nil, "scope"},
		{"no token", url.Values{"q": {"*"}}, "", 401, nil, "bearer token"},
		{"wrong token", url.Values{"q": {"*"}}, "wrong-token-0123456789", 401, nil, "bearer token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts, "/api/v1/search?"+tt.params.Encode(), tt.tok)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.code, body)
			}
			if tt.wantBody != "" && !strings.Contains(body, tt.wantBody) {
				t.Fatalf("body %q does not contain %q", body, tt.wantBody)
			}
			if tt.code != 200 {
				return
			}
			var msgs []string
			sc := bufio.NewScanner(strings.NewReader(body))
			for sc.Scan() {
				var ev map[string]string
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("line %q is not a JSON object of strings: %v", sc.Text(), err)
				}
				if _, err := time.Parse(time.RFC3339Nano, ev["_time"]); err != nil {
					t.Fatalf("bad _time in %q", sc.Text())
				}
				msgs = append(msgs, ev["_msg"])
			}
			if strings.Join(msgs, "|") != strings.Join(tt.wantMsgs, "|") {
				t.Fatalf("got %q, want %q", msgs, tt.wantMsgs)
			}
		})
	}
}

func TestHealthMetricsStatus(t *testing.T) {
	ts := newServer(t, time.Now())
	if resp, body := get(t, ts, "/healthz", ""); resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, ts, "/metrics", ""); resp.StatusCode != 200 || !strings.Contains(body, "vigil_test_total") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, ts, "/api/v1/status", ""); resp.StatusCode != 401 {
		t.Fatalf("status without token: %d", resp.StatusCode)
	}
	if resp, body := get(t, ts, "/api/v1/status", token); resp.StatusCode != 200 || !strings.Contains(body, `"ok": "yes"`) {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
}

func TestNewRejectsWeakConfig(t *testing.T) {
	if _, err := New(nil, Options{}, nil); err == nil {
		t.Fatal("no token accepted")
	}
	if _, err := New(nil, Options{Tokens: []string{"short"}}, nil); err == nil {
		t.Fatal("short token accepted")
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Time{
		"":                          {},
		"now":                       now,
		"1h":                        now.Add(-time.Hour),
		"-30m":                      now.Add(-30 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"2026-11-27T10:00:00+01:00": time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		"2026-11-27T10:00:00":       time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		"2026-11-26":                time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		"1764000000":                time.Unix(1764000000, 0),
	}
	for in, want := range tests {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"soon", "1x", "2026-13-01", "NaN", "Inf", "NaNd", "1e9", "99999999999999999999d"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1h", "7d", "now", "2026-11-27T10:00:00Z", "1764000000.5", "-5m", "1e9", "9999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		if err == nil && !got.IsZero() && (got.Year() < 1 || got.Year() > 33000) {
			t.Fatalf("ParseTime(%q) = %v: accepted a time out of any range", s, got)
		}
	})
}

// blockingStore passes searches to a store, except that the query "block"
// waits until its context is done, as a search too slow for any limit.
type blockingStore struct {
	search.Searcher
	started chan struct{}
}

func (b *blockingStore) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	if q.Text == "block" {
		b.started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	return b.Searcher.Search(ctx, q, fn)
}

// limitedServer serves the API over a store of 50 rows through a
// search.Service with these limits; the query "block" never ends by itself.
func limitedServer(t *testing.T, lim search.Limits) (*httptest.Server, *blockingStore, *prometheus.Registry) {
	t.Helper()
	now := time.Now()
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rows []store.Row
	for i := range 50 {
		rows = append(rows, store.Row{Time: now.Add(time.Duration(i-100) * time.Second), Fields: []store.Field{
			{Name: "_msg", Value: "event " + strconv.Itoa(i) + " " + strings.Repeat("x", 100)}}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	bs := &blockingStore{Searcher: st, started: make(chan struct{}, 10)}
	reg := prometheus.NewRegistry()
	s, err := New(search.New(bs, lim, reg), Options{Tokens: []string{token}, Gatherer: reg, Registerer: reg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, bs, reg
}

// TestSearchTimeout: a search that runs past http.search_timeout is
// cancelled and answered 503 with a JSON error naming the setting.
func TestSearchTimeout(t *testing.T) {
	ts, _, _ := limitedServer(t, search.Limits{Timeout: time.Millisecond})
	resp, body := get(t, ts, "/api/v1/search?q=block", token)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"search timed out`) ||
		!strings.Contains(body, "http.search_timeout") {
		t.Fatalf("got %d %s, want 503 with a timeout error", resp.StatusCode, body)
	}
	if _, body := get(t, ts, "/metrics", ""); !strings.Contains(body, `vigil_api_search_rejected_total{reason="timeout"} 1`) {
		t.Fatalf("timeout not counted:\n%s", body)
	}
}

// TestSearchConcurrencyCap: with max_concurrent searches blocked, one more
// is answered 503 with Retry-After once search_queue_wait has passed.
func TestSearchConcurrencyCap(t *testing.T) {
	const slots = 2
	ts, bs, _ := limitedServer(t, search.Limits{MaxConcurrent: slots, QueueWait: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range slots {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/search?q=block", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
		<-bs.started
	}
	resp, body := get(t, ts, "/api/v1/search?q=*", token)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(body, "http.max_concurrent_searches") {
		t.Fatalf("got %d (Retry-After %q) %s, want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if _, body := get(t, ts, "/metrics", ""); !strings.Contains(body, `vigil_api_search_rejected_total{reason="busy"} 1`) ||
		!strings.Contains(body, "vigil_api_searches_in_flight 2") {
		t.Fatalf("busy search or searches in flight not counted:\n%s", body)
	}
}

// TestSearchMaxBytes: a search whose results pass search_max_bytes ends
// with an error line after the rows within the bound.
func TestSearchMaxBytes(t *testing.T) {
	ts, _, _ := limitedServer(t, search.Limits{MaxBytes: 1000})
	resp, body := get(t, ts, "/api/v1/search?q=*&limit=50", token)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	last := lines[len(lines)-1]
	if resp.StatusCode != http.StatusOK || len(lines) < 2 || len(lines) > 10 ||
		!strings.HasPrefix(last, `{"error":"search stopped`) || !strings.Contains(last, "http.search_max_bytes") {
		t.Fatalf("got %d, %d lines, last %s; want a few rows then an error line", resp.StatusCode, len(lines), last)
	}
}

func TestHosts(t *testing.T) {
	h, err := NewHosts("0.0.0.0:8514", []string{"Vigil.Corp.Example.", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	h.local = func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("10.1.2.3"), Mask: net.CIDRMask(8, 32)}}, nil
	}
	named, err := NewHosts("vigil.lan:8514", nil)
	if err != nil {
		t.Fatal(err)
	}
	named.local = h.local
	tests := []struct {
		h    *Hosts
		host string
		want bool
	}{
		{h, "127.0.0.1:8514", true},
		{h, "127.0.0.2", true},
		{h, "[::1]:8514", true},
		{h, "[::1]", true},
		{h, "localhost:8514", true},
		{h, "LOCALHOST", true},
		{h, "10.1.2.3:8514", true}, // this machine's address
		{h, "vigil.corp.example:443", true},
		{h, "VIGIL.corp.example.", true},
		{h, "192.0.2.7:8514", true},
		{h, "10.9.9.9:8514", false},
		{h, "evil.example:8514", false},
		{h, "vigil.corp.example.evil.example", false},
		{h, "localhost.evil.example", false},
		{h, "", false},
		{named, "vigil.lan:8514", true},
		{named, "vigil.corp.example", false},
		{named, "127.0.0.1", true},
	}
	for _, tt := range tests {
		if got := tt.h.Allow(tt.host); got != tt.want {
			t.Errorf("Allow(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	all, _ := NewHosts("127.0.0.1:8514", []string{"*"})
	if !all.Allow("anything.example") {
		t.Error(`"*" does not allow any host`)
	}
	for _, bad := range []string{"", "vigil.example:443", "https://vigil.example", "two words"} {
		if _, err := NewHosts("127.0.0.1:8514", []string{bad}); err == nil {
			t.Errorf("NewHosts accepted %q", bad)
		}
	}
}

// TestHostHeader: a request naming a host the server does not answer to,
// as a DNS-rebinding page's would, is refused (421) everywhere but
// /healthz, with or without a token.
func TestHostHeader(t *testing.T) {
	ts := newServer(t, time.Now())
	for _, tt := range []struct {
		path, host, tok string
		code            int
	}{
		{"/metrics", "evil.example", "", http.StatusMisdirectedRequest},
		{"/api/v1/search?q=*", "evil.example:8514", token, http.StatusMisdirectedRequest},
		{"/api/v1/status", "evil.example", token, http.StatusMisdirectedRequest},
		{"/healthz", "evil.example", "", http.StatusOK},
		{"/metrics", "localhost", "", http.StatusOK},
		{"/api/v1/status", "127.0.0.1", token, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+tt.path, nil)
		req.Host = tt.host
		if tt.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tt.tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s with Host %s: %d %s, want %d", tt.path, tt.host, resp.StatusCode, b, tt.code)
		}
		if tt.code == http.StatusMisdirectedRequest && !strings.Contains(string(b), "http.allowed_hosts") {
			t.Errorf("%s with Host %s: %s does not name http.allowed_hosts", tt.path, tt.host, b)
		}
	}
}
