package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestChineseTexts: a server with display.language zh-CN raises the
// built-in lockout rule's alert in Chinese: its stored title and message,
// the webhook's JSON and the mail (subject and body) are Chinese; the
// console shows the rule in Chinese to a browser that asks for no
// language it speaks, and in English to one that asks for English (and
// in Chinese again once the user chose it, in a real browser); the
// offline replay follows the configuration too.
func TestChineseTexts(t *testing.T) {
	dir := t.TempDir()
	mails := filepath.Join(dir, "mails")
	if err := os.MkdirAll(mails, 0o755); err != nil {
		t.Fatal(err)
	}
	smtpAddr := startSMTP(t, mails)
	host, port, _ := net.SplitHostPort(smtpAddr)
	hooks, _, hookURL, _ := alertCollectors(t)
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
display:
  language: zh-CN
inputs:
  syslog:
    - addr: 127.0.0.1:%d
alerts:
  webhooks:
    - name: hook
      url: %s
  smtp:
    - name: mail
      host: %s
      port: %s
      starttls: none
      from: vigil@corp.example
      to: [soc@corp.example]
`, syslogPort, hookURL, host, port)
	cfgFile := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(dir, "data"), syslogPort: -1, config: cfg})
	line := lockoutLine(time.Now().UTC().Add(-time.Minute).Truncate(time.Second), "zhangwei")
	sendLines(t, fmt.Sprintf("127.0.0.1:%d", syslogPort), []string{line})

	const (
		title = "账户锁定"
		msg   = "账户 zhangwei 已被锁定：报告方 DC01.corp.example，错误尝试到达 EXCH01。"
	)
	a := v.waitAlert(t, `rule.id:"account-locked-out"`)
	if a["rule.name"] != title || !strings.HasPrefix(a["_msg"], msg) {
		t.Errorf("stored alert: rule.name %q, _msg %q; want %q and %q...", a["rule.name"], a["_msg"], title, msg)
	}
	hook := hooks.wait(t, "the webhook", func(s string) bool { return strings.Contains(s, `"account-locked-out"`) })
	var h map[string]any
	if err := json.Unmarshal([]byte(hook), &h); err != nil || h["rule.name"] != title || !strings.HasPrefix(fmt.Sprint(h["_msg"]), msg) {
		t.Errorf("webhook JSON %s (%v)", hook, err)
	}

	// The mail: subject and body in Chinese.
	subject, body := waitMailTo(t, mails, "soc@corp.example")
	if want := "[vigil] 中 账户锁定：user.name=zhangwei"; subject != want {
		t.Errorf("mail subject %q, want %q", subject, want)
	}
	for _, want := range []string{msg, "规则：    账户锁定（account-locked-out）", "级别：    中"} {
		if !strings.Contains(body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, body)
		}
	}

	// The console: the rule pages and the alert's page in Chinese unless
	// the browser asks for English.
	c := consoleClient(t, v, "admin", adminPassword(t, v))
	for _, tc := range []struct {
		path, accept string
		want, not    []string
	}{
		{"/rules", "", []string{`<html lang="zh-CN">`, title, "单一来源暴力破解"}, []string{"Account locked out"}},
		{"/rules", "fr-FR,fr", []string{`<html lang="zh-CN">`, title}, nil},
		{"/rules/account-locked-out", "", []string{title, "域控制器的 4740 事件"}, []string{"domain controller's event 4740"}},
		{"/rules", "en-US,en;q=0.9", []string{`<html lang="en">`, "Account locked out", "Brute force from one source"}, []string{title}},
		{"/alerts/" + a["alert.id"], "", []string{"<h1>" + title + "</h1>", "账户 zhangwei 已被锁定"}, nil},
		// The message was written once, in display.language; the title
		// follows the reader.
		{"/alerts/" + a["alert.id"], "en", []string{"<h1>Account locked out</h1>", "账户 zhangwei 已被锁定"}, nil},
	} {
		body := c.page(t, tc.path, tc.accept)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s (Accept-Language %q) lacks %q", tc.path, tc.accept, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("GET %s (Accept-Language %q) has %q", tc.path, tc.accept, n)
			}
		}
	}

	// In the browser (which asks for English) after switching to Chinese.
	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	b.switchLanguage("zh-CN")
	b.visit("/rules")
	if txt := b.text("main table tbody"); !strings.Contains(txt, title) || !strings.Contains(txt, "单一来源暴力破解") {
		t.Errorf("rules table in Chinese: %q", txt)
	}
	b.screenshot("rules-zh")
	b.visit("/alerts/" + a["alert.id"])
	if txt := b.text("h1"); txt != title {
		t.Errorf("alert page heading %q, want %q", txt, title)
	}
	b.screenshot("alert-zh")

	// The offline replay writes in display.language, or in --language.
	logFile := filepath.Join(dir, "lockout.log")
	if err := os.WriteFile(logFile, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{"": title, "--language en": "Account locked out"} {
		cmd := exec.Command(vigilBin, append(append([]string{"rules", "test", "--config", cfgFile}, strings.Fields(args)...), logFile)...)
		out, err := cmd.Output()
		var al map[string]any
		if err != nil || json.Unmarshal(out, &al) != nil || al["rule.name"] != want {
			t.Errorf("vigil rules test %s: %v, %s; want rule.name %q", args, err, out, want)
		}
	}
}

// waitMailTo waits for a mail to rcpt in the smtpd.py folder dir and
// returns its decoded subject and body.
func waitMailTo(t *testing.T, dir, rcpt string) (subject, body string) {
	t.Helper()
	m := waitMailIn(t, dir, "a mail to "+rcpt, func(m smtpMail) bool { return slices.Contains(m.RcptTos, rcpt) })
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatalf("mail to %s: %v", rcpt, err)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("mail to %s: subject: %v", rcpt, err)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("mail to %s: body: %v", rcpt, err)
	}
	return subject, strings.ReplaceAll(string(text), "\r\n", "\n")
}

// console is a signed-in console session over plain HTTP.
type console struct {
	v *vigil
	c *http.Client
}

var loginTokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleClient signs in through the login form, as a browser does.
func consoleClient(t *testing.T, v *vigil, user, pass string) *console {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &console{v: v, c: &http.Client{Jar: jar}}
	page := c.page(t, "/login", "")
	m := loginTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the login page has no token: %s", page)
	}
	resp, err := c.c.PostForm(v.httpURL+"/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {pass}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	return c
}

// page returns the body of GET path sent with that Accept-Language
// header (none when empty), failing on a status other than 200.
func (c *console) page(t *testing.T, path, accept string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.v.httpURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}
