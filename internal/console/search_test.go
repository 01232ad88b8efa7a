package console

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// newSearchConsole is a console whose search page runs on a real store
// holding 30 events of the last half hour (seq 1..30).
func newSearchConsole(t *testing.T) *testConsole {
	t.Helper()
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	var rows []store.Row
	for i := range 30 {
		rows = append(rows, store.Row{Time: now.Add(-time.Duration(i) * time.Minute), Fields: []store.Field{
			{Name: "_msg", Value: fmt.Sprintf("login <b>%d</b>", i)}, {Name: "vigil.seq", Value: strconv.Itoa(i + 1)},
			{Name: "user.name", Value: []string{"zhangwei", `o'brien "x"`}[i%2]}, {Name: "source.ip", Value: "10.0.0.1"},
		}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	raw := func(_ context.Context, from uint64, _ int, fn func(*journal.Record) error) error {
		if from == 5 { // from a GBK sender: 张三 登录失败
			return fn(&journal.Record{Seq: from, Input: "win", Data: []byte("<13>\xd5\xc5\xc8\xfd \xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc")})
		}
		return fn(&journal.Record{Seq: from, Data: []byte("<13>raw line " + strconv.FormatUint(from, 10))})
	}
	s := service.NewSearches(search.New(st, search.Limits{}, nil), service.SearchOptions{Raw: raw, JournalID: 1,
		Charsets: charset.Inputs{"win": charset.GBK}})
	return newTestConsole(t, func(o *Options) { o.Searches = s })
}

func (tc *testConsole) get(t *testing.T, path string, role service.Role) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	tc.as(t, req, role)
	resp, body := tc.do(req)
	return resp.StatusCode, body
}

func TestSearchPage(t *testing.T) {
	tc := newSearchConsole(t)
	code, body := tc.get(t, "/search?start=1h&columns=user.name,_msg", service.RoleViewer)
	if code != 200 {
		t.Fatalf("GET /search: %d\n%s", code, body)
	}
	for _, want := range []string{
		"<strong>30 events</strong>", `class="histogram"`, "login &lt;b&gt;0&lt;/b&gt;", // escaped, newest first
		`CST`, // the user's zone
		// The sidebar's filter links quote the value as LogsQL wants it.
		attr("/search?" + url.Values{"columns": {"user.name,_msg"}, "q": {`user.name:="o'brien \"x\""`}, "start": {"1h"}}.Encode()),
		attr("/search?" + url.Values{"columns": {"user.name,_msg"}, "q": {`-user.name:="zhangwei"`}, "start": {"1h"}}.Encode()),
		`data-src="/api/v1/events/00000000000000010000000000000001?at=`,
		`id="tail-toggle"`, "/api/v1/search/export?columns=_time%2Cuser.name%2C_msg&amp;format=csv",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := strings.Count(body, `class="ev-toggle"`); n != 30 {
		t.Errorf("%d rows, want 30", n)
	}

	// A query error is shown in words with its hint.
	_, body = tc.get(t, "/search?q="+url.QueryEscape(`user.name:"zhang`), service.RoleViewer)
	if !strings.Contains(body, `class="search-error"`) || !strings.Contains(body, "double quote is not closed") {
		t.Errorf("bad query page:\n%s", body)
	}
	// Pages: 30 events in pages of 100 have no "older" link.
	if strings.Contains(body, `rel="next"`) {
		t.Error("a next link on a single page")
	}

	// An event opened without JavaScript shows its raw line.
	_, body = tc.get(t, "/search?start=1h&event=00000000000000010000000000000003", service.RoleAnalyst)
	if !strings.Contains(body, `<pre class="raw">&lt;13&gt;raw line 3</pre>`) {
		t.Errorf("opened event lacks its raw line")
	}
	// One from an input with a charset shows its text, decoded, and says so.
	_, body = tc.get(t, "/search?start=1h&event=00000000000000010000000000000005", service.RoleAnalyst)
	if !strings.Contains(body, `<pre class="raw">&lt;13&gt;张三 登录失败</pre>`) || !strings.Contains(body, "Decoded from GBK") {
		t.Errorf("opened event of a GBK input lacks its decoded raw line")
	}
	_, body = tc.get(t, "/search?event=00000000000000010000000000000999", service.RoleAdmin)
	if !strings.Contains(body, "No event has this id") {
		t.Errorf("missing event page lacks the note")
	}

	// A query with pipes is a table of its rows.
	_, body = tc.get(t, "/search?start=1h&q="+url.QueryEscape("* | stats by (user.name) count() n"), service.RoleViewer)
	if !strings.Contains(body, "events piped") || strings.Contains(body, `class="histogram"`) || !strings.Contains(body, "<td>15</td>") {
		t.Errorf("piped query page:\n%s", body)
	}

	// Chinese.
	req := httptest.NewRequest(http.MethodGet, "/search?start=1h", nil)
	tc.as(t, req, service.RoleViewer)
	req.Header.Set("Accept-Language", "zh-CN")
	if _, body := tc.do(req); !strings.Contains(body, "30 条事件") {
		t.Errorf("Chinese page lacks the count")
	}
}

// attr is a URL as html/template writes it in an attribute.
func attr(u string) string { return strings.ReplaceAll(html.EscapeString(u), "+", "&#43;") }

func TestSearchPageRoles(t *testing.T) {
	checkRoutesRoles(t, newSearchConsole(t))
}

func TestSearchHelpers(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for d, want := range map[time.Duration]string{time.Second: "1s", 30 * time.Second: "30s", 15 * time.Minute: "15m",
		2 * time.Hour: "2h", 48 * time.Hour: "2d"} {
		if got := stepText(d); got != want {
			t.Errorf("stepText(%s) = %s, want %s", d, got, want)
		}
	}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for loc, want := range map[*time.Location]string{shanghai: "Asia/Shanghai", time.FixedZone("", 0): "UTC", time.FixedZone("CST", 8*3600): "Etc/GMT-8"} {
		if got := (&searchPage{View: View{Zone: loc, Now: now}}).TailZone(); got != want {
			t.Errorf("TailZone(%s) = %s, want %s", loc, got, want)
		}
	}
	if got := columnsOf("_time, user.name,,user.name,_msg"); strings.Join(got, ",") != "user.name,_msg" {
		t.Errorf("columnsOf: %v", got)
	}
}
