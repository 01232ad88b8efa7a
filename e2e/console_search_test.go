package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// nginxLine is an access-log line of the mail service's proxy, as
// cmd/vigil-loadgen makes them, at time t.
func nginxLine(t time.Time, ip, user string, status int, uri string) []byte {
	t = t.UTC()
	return fmt.Appendf(nil, `<190>%s proxy1 nginx: {"source":"192.168.0.8", "ip":"%s","user":"%s@corp.example","time_local":"%s","statuscode":%d,"bytes_sent":328,"http_referer":"","http_user_agent":"Apple-iPhone15C2/2103.10","request_uri":"%s","request_time":0.012,"gzip_ration":"","query_string":""}`+"\n",
		t.Format(time.Stamp), ip, user, t.Format("02/Jan/2006:15:04:05 -0700"), status, uri)
}

// TestBrowserSearch runs a search in the console, opens an event and its
// raw line, filters by a field value from the sidebar, zooms with the
// histogram (a click on a bar, a drag across bars), and shows a query
// error and an empty result.
func TestBrowserSearch(t *testing.T) {
	v := startVigil(t, vigilOpts{})
	now := time.Now()
	var lines [][]byte
	users := []string{"zhangwei", "lina", "wangfang", "liuyang"}
	for i := range 80 {
		status := 200
		if i%4 == 0 {
			status = 401
		}
		lines = append(lines, nginxLine(now.Add(-time.Duration(i)*45*time.Second), fmt.Sprintf("203.0.113.%d", i%5),
			users[i%len(users)], status, "/Microsoft-Server-ActiveSync?Cmd=Sync"))
	}
	sendTCP(t, v.syslogAddr, lines...)
	v.waitEvents(t, "*", 80)

	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))

	// The search: 80 events in the last 24h, a histogram, the sidebar.
	b.visit("/search?q=" + url.QueryEscape(`user.name:*`))
	b.do(chromedp.WaitVisible(chromedp.CSS("table.events tbody tr")))
	if got := b.text(".summary strong"); got != "80 events" {
		t.Errorf("summary says %q", got)
	}
	if n := run(b, chromedp.Evaluate[int](`document.querySelectorAll("svg.histogram a[data-t]").length`)); n < 60 || n > 121 {
		t.Errorf("histogram has %d bars", n)
	}
	b.screenshot("search-results")
	top(b, "search-results")

	// Open the newest event in place: all fields and the raw line.
	b.do(
		chromedp.Click(chromedp.CSS("table.events a.ev-toggle")),
		chromedp.WaitVisible(chromedp.CSS("tr.ev-detail pre.ev-raw")),
	)
	run(b, chromedp.Poll[bool](`document.querySelector("tr.ev-detail pre.ev-raw").textContent.includes("nginx:")`))
	if raw := b.text("tr.ev-detail pre.ev-raw"); !strings.Contains(raw, `"user":"`) || !strings.HasPrefix(raw, "<190>") {
		t.Errorf("raw line: %q", raw)
	}
	b.screenshot("search-event")
	top(b, "search-event")
	// Without JavaScript the time is a link that opens the event.
	href := run(b, chromedp.Evaluate[string](`document.querySelector("table.events a.ev-toggle").getAttribute("href")`))
	b.visit(href)
	if raw := b.text(".event-open pre.raw"); !strings.Contains(raw, "nginx:") {
		t.Errorf("opened event's raw line: %q", raw)
	}

	// Filter in by a value of the sidebar: user.name = lina.
	b.visit("/search?q=" + url.QueryEscape(`user.name:*`))
	b.do(
		chromedp.Evaluate[chromedp.Void](`(function(){var d=[...document.querySelectorAll("details.field")].find(d=>d.querySelector(".name").textContent==="user.name"); d.open=true;})()`),
		chromedp.Click(chromedp.CSS(`details.field[open] li a.in[title*="lina"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.events")),
	)
	if q := run(b, chromedp.Value(chromedp.ID("search-q"))); q != `user.name:* user.name:="lina"` {
		t.Errorf("after the facet click the query is %q", q)
	}
	if got := b.text(".summary strong"); got != "20 events" {
		t.Errorf("filtered summary says %q", got)
	}

	// Zoom: a click on a bar narrows the range to it.
	b.do(chromedp.Click(chromedp.CSS(`svg.histogram a[data-t]:last-of-type`)))
	b.do(chromedp.WaitVisible(chromedp.CSS(".summary")))
	if loc := b.location(); !strings.Contains(loc, "start=") || !strings.Contains(loc, "end=") {
		t.Errorf("after a bar click at %s", loc)
	}
	// A drag across the left half of the histogram narrows it there.
	b.visit("/search?start=2h")
	before := b.location()
	b.do(chromedp.Evaluate[chromedp.Void](`setTimeout(function(){
		var s = document.querySelector("svg.histogram"), r = s.getBoundingClientRect();
		function ev(type, x) { s.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: x, clientY: r.top + r.height / 2, button: 0})); }
		ev("mousedown", r.left + r.width * 0.3); ev("mousemove", r.left + r.width * 0.5);
		document.dispatchEvent(new MouseEvent("mouseup", {bubbles: true, clientX: r.left + r.width * 0.5, clientY: r.top + r.height / 2}));
	}, 10)`))
	if loc := waitLocation(b, func(loc string) bool { return strings.Contains(loc, "end=") }); loc == before {
		t.Errorf("after a drag at %s", loc)
	}

	// Live tail: a new event appears on top without reloading.
	b.visit("/search?q=" + url.QueryEscape(`user.name:="tailuser"`))
	b.do(chromedp.Click(chromedp.ID("tail-toggle"), chromedp.NodeVisible))
	run(b, chromedp.Poll[bool](`document.getElementById("tail-toggle").getAttribute("aria-pressed") === "true"`))
	// The first tail call sets the cursor at the newest event; then a new
	// one arrives.
	time.Sleep(1500 * time.Millisecond) // not an assertion: lets the first tail call answer before the event is sent
	sendTCP(t, v.syslogAddr, nginxLine(time.Now(), "198.51.100.7", "tailuser", 401, "/owa/auth.owa"))
	run(b, chromedp.Poll[bool](`document.querySelectorAll("table.events tr.tailed").length === 1`, chromedp.WithPollingTimeout(60*time.Second)))
	if row := b.text("table.events tr.tailed"); !strings.Contains(row, "tailuser") || !strings.Contains(row, "198.51.100.7") {
		t.Errorf("tailed row: %q", row)
	}
	b.screenshot("search-tail")
	b.do(chromedp.Click(chromedp.ID("tail-toggle")))

	// In Chinese.
	b.switchLanguage("zh-CN")
	b.visit("/search?q=" + url.QueryEscape(`user.name:*`))
	if got := b.text(".summary strong"); got != "81 条事件" {
		t.Errorf("Chinese summary says %q", got)
	}
	b.screenshot("search-results-zh-CN")
	b.switchLanguage("en")

	// A query that does not parse is explained.
	b.visit("/search?q=" + url.QueryEscape(`user.name:"zhang`))
	if msg := b.text(".search-error pre"); !strings.Contains(msg, "double quote is not closed") {
		t.Errorf("error says %q", msg)
	}
	b.screenshot("search-error")

	// Nothing found.
	b.visit("/search?q=nosuchword&start=15m")
	if msg := b.text(".empty"); !strings.Contains(msg, "No events match") {
		t.Errorf("empty result says %q", msg)
	}
	b.screenshot("search-empty")
}

// top saves what the 1366x768 window shows, as name-top.png.
func top(b *browser, name string) {
	b.t.Helper()
	png := run(b, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(b.dir, name+"-top.png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// waitLocation polls the page's address until ok accepts it (while the
// page navigates, a poll may fail), and returns it.
func waitLocation(b *browser, ok func(string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		if err == nil && ok(loc) {
			_, _ = chromedp.Run(b.ctx, chromedp.WaitReady(chromedp.CSS("main")))
			return strings.TrimPrefix(loc, b.v.httpURL)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("page stayed at %s (%v)", loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
