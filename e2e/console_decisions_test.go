package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleDecisions: an analyst's work on the decisions page in a
// real browser: ban an address with a reason, see it served to bouncers,
// delete it; the bouncers section shows a bouncer added with the CLI.
// Screenshots in English and Chinese.
func TestConsoleDecisions(t *testing.T) {
	v := startVigil(t, vigilOpts{syslogPort: -1})
	key := bouncerKey(t, v, "fw-edge")

	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	yes := chromedp.Evaluate[chromedp.Void](`window.confirm = function () { return true; }`)

	b.visit("/decisions")
	if got := b.text(".notice"); !strings.Contains(got, "enforce.enabled: false") {
		t.Errorf("notice: %q", got)
	}
	b.do(
		chromedp.SetValue(chromedp.CSS(`form[action="/decisions"] select[name=scope]`), "ip"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/decisions"] input[name=value]`), "198.51.100.23"),
		chromedp.SetValue(chromedp.CSS(`form[action="/decisions"] input[name=duration]`), "2h"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/decisions"] input[name=reason]`), "phishing kit host"),
		chromedp.Click(chromedp.CSS(`form[action="/decisions"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := b.text("#decisions"); !strings.Contains(got, "198.51.100.23") || !strings.Contains(got, "phishing kit host") ||
		!strings.Contains(got, "operator:admin") || !strings.Contains(got, "active") {
		t.Errorf("decisions after adding: %q", got)
	}
	// A bouncer gets it.
	code, body := v.do(t, "GET", "/v1/decisions/stream?startup=true", nil, "X-Api-Key", key)
	if code != 200 || !strings.Contains(string(body), `"value":"198.51.100.23"`) {
		t.Errorf("bouncer stream: %d %s", code, body)
	}
	if got := b.text("#bouncers"); !strings.Contains(got, "fw-edge") {
		t.Errorf("bouncers: %q", got)
	}
	b.screenshot("decisions")

	// A refused decision says why and keeps what was typed.
	b.do(
		chromedp.SetValue(chromedp.CSS(`form[action="/decisions"] select[name=scope]`), "ip"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/decisions"] input[name=value]`), "192.168.1.20"),
		chromedp.Click(chromedp.CSS(`form[action="/decisions"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("p.error")),
	)
	if got := b.text("p.error"); !strings.Contains(got, "private") {
		t.Errorf("refusal: %q", got)
	}

	b.visit("/decisions")
	b.do(
		yes,
		chromedp.Click(chromedp.CSS(`#decisions form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	b.visit("/decisions?state=all")
	if got := b.text("#decisions"); !strings.Contains(got, "deleted") || !strings.Contains(got, "198.51.100.23") {
		t.Errorf("history after deleting: %q", got)
	}
	code, body = v.do(t, "GET", "/v1/decisions?ip=198.51.100.23", nil, "X-Api-Key", key)
	if code != 200 || strings.TrimSpace(string(body)) != "null" {
		t.Errorf("live check after deleting: %d %s", code, body)
	}

	b.switchLanguage("zh-CN")
	b.visit("/decisions?state=all")
	if got := b.text("h1"); got != "处置决策" {
		t.Errorf("Chinese title %q", got)
	}
	b.screenshot("decisions-zh-CN")
}
