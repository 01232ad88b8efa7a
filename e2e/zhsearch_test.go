package e2e

import (
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// zhMessages are a Chinese mail service's log messages: Chinese text with
// names glued to it, key=value, JSON with a Chinese full name, English.
var zhMessages = []string{
	"用户张伟(zhangwei@corp.cn)登录失败，原因：密码错误，来源IP：203.0.113.7，地点：北京",
	"用户李娜(lina@corp.cn)登录成功，客户端：Foxmail 7.2，地点：上海",
	"邮件投递成功：发件人 zhangwei@corp.cn 收件人 lina@corp.cn 主题：关于2026年预算的通知",
	"user=zhangwei@corp.cn full_name=张伟 action=登录 result=失败 src=203.0.113.7 city=北京",
	`{"user":{"name":"lina","full_name":"李娜"},"message":"用户李娜通过网页版发送邮件给张伟明"}`,
	"connect from unknown[203.0.113.9]",
	"账号zhangwei@corp.cn在北京和广州异地登录，间隔12分钟",
}

// zhMsg is the _msg Vigil stores for zhMessages[i] (a JSON payload's
// message key).
func zhMsg(i int) string {
	if i == 4 {
		return "用户李娜通过网页版发送邮件给张伟明"
	}
	return zhMessages[i]
}

// TestZHSearch: Chinese messages sent over syslog by util-linux logger are
// found by a bare Chinese word inside a longer run of Chinese text, the
// same through the CLI, the API and the console's search page; with a
// field, negation and Latin words beside it; and a word that is not
// there finds nothing.
func TestZHSearch(t *testing.T) {
	logger := requireProgram(t, "logger")
	v := startVigil(t, vigilOpts{})
	_, port, _ := strings.Cut(v.syslogAddr, ":")
	cmd := exec.Command(logger, "-n", "127.0.0.1", "-P", port, "-T", "--rfc5424", "-p", "mail.info", "-t", "webmail")
	cmd.Stdin = strings.NewReader(strings.Join(zhMessages, "\n") + "\n") // one message a line
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, out)
	}
	if evs := v.waitEvents(t, "log.syslog.appname:=webmail", len(zhMessages)); len(evs) != len(zhMessages) {
		t.Fatalf("stored %d events, want %d", len(evs), len(zhMessages))
	}

	tests := []struct {
		q    string
		want []int // indexes into zhMessages
	}{
		{`张伟`, []int{0, 3, 4}},
		{`"张伟"`, []int{0, 3, 4}},
		{`登录失败`, []int{0}},
		{`异地登录`, []int{6}},
		{`密码错误 OR 异地登录`, []int{0, 6}},
		{`-张伟 登录`, []int{1, 6}},
		{`NOT 张伟 AND 登录`, []int{1, 6}},
		{`user.full_name:李娜`, []int{4}},
		{`user.full_name:李`, []int{4}},
		{`登录 user.name:zhangwei`, []int{3}},
		{`(登录 or 投递) lina`, []int{1, 2}},
		{`"corp.cn)登录失败"`, []int{0}},
		{`"orp.cn)登录失败"`, nil}, // a Latin word keeps its start: "corp" is one word
		{`王芳`, nil},
		{`user.full_name:张伟`, nil},
		{`full_name:张伟`, []int{3}},
	}
	msgs := func(evs []event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e["_msg"])
		}
		slices.Sort(out)
		return out
	}
	wants := func(idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, zhMsg(i))
		}
		slices.Sort(out)
		return out
	}

	for _, tt := range tests {
		// The API.
		evs, err := v.search(tt.q, searchParams{})
		if err != nil {
			t.Errorf("API %s: %v", tt.q, err)
		} else if got := msgs(evs); !slices.Equal(got, wants(tt.want)) {
			t.Errorf("API %s: found %q, want %q", tt.q, got, wants(tt.want))
		}
		// The CLI.
		out, stderr, code := runVigil(t, "search", "--server", v.httpURL, "--token", v.token, "--", tt.q)
		if code != 0 {
			t.Errorf("vigil search %s: exit %d: %s", tt.q, code, stderr)
			continue
		}
		cli, err := parseEvents([]byte(out))
		if err != nil {
			t.Errorf("vigil search %s: %v", tt.q, err)
		} else if got := msgs(cli); !slices.Equal(got, wants(tt.want)) {
			t.Errorf("vigil search %s: found %q, want %q", tt.q, got, wants(tt.want))
		}
	}

	// The console's search page shows the same events.
	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	b.visit("/search?q=" + url.QueryEscape("张伟"))
	b.do(chromedp.WaitVisible(chromedp.CSS("table.events tbody tr")))
	if got := b.text(".summary strong"); got != "3 events" {
		t.Errorf("console, 张伟: summary says %q, want 3 events", got)
	}
	rows := run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.events > tbody > tr:not(.ev-detail)")).map(r => r.textContent)`))
	for _, i := range []int{0, 3, 4} {
		if !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, zhMsg(i)) }) {
			t.Errorf("console, 张伟: no row shows %q; rows: %q", zhMsg(i), rows)
		}
	}
	b.visit("/search?q=" + url.QueryEscape("王芳"))
	if got := b.text(".results"); !strings.Contains(got, "No events match") {
		t.Errorf("console, 王芳: %q, want no events", got)
	}
}
