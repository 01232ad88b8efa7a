package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
)

var update = flag.Bool("update", false, "rewrite the golden chat payloads in testdata/chat")

// chatClock is the fixed time the chat tests sign at.
var chatClock = time.Date(2026, 11, 28, 1, 2, 3, 456000000, time.UTC)

func shanghai(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func testStyle(t testing.TB, lang string, loc *time.Location, console string) chatStyle {
	t.Helper()
	s, err := newChatStyle(Config{Language: lang, Location: loc, ConsoleURL: console})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// chatAlert is testAlert with the place of its source address.
func chatAlert() *alert.Alert {
	a := testAlert(1)
	a.RuleTitle = "Login from another city"
	a.Message = "alice@example.com logged in from Hangzhou, 1,200 km from Beijing an hour ago"
	a.Fields = map[string]string{fieldCity: "Hangzhou", fieldRegion: "Zhejiang", fieldCountry: "CN"}
	return a
}

// dingtalkSign and feishuSign compute the robots' signatures step by step
// as their documentation describes them, apart from the code under test.
func dingtalkSign(secret string, ms int64) string {
	stringToSign := strconv.FormatInt(ms, 10) + "\n" + secret
	h := hmac.New(sha256.New, []byte(secret))
	io.WriteString(h, stringToSign)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func feishuSign(secret string, s int64) string {
	key := strconv.FormatInt(s, 10) + "\n" + secret
	h := hmac.New(sha256.New, []byte(key))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestChatPayloads compares each robot's request for one alert, in both
// languages, with the golden payloads in testdata/chat (-update rewrites
// them), and checks the signatures.
func TestChatPayloads(t *testing.T) {
	const secret = "SEC0123456789abcdef"
	for _, c := range []struct {
		format, lang, secret string
		loc                  *time.Location
	}{
		{FormatDingTalk, "en", secret, nil},
		{FormatDingTalk, "zh-CN", secret, shanghai(t)},
		{FormatWeCom, "en", "", nil},
		{FormatWeCom, "zh-CN", "", shanghai(t)},
		{FormatFeishu, "en", secret, nil},
		{FormatFeishu, "zh-CN", secret, shanghai(t)},
		{FormatFeishu, "en", "", shanghai(t)},
	} {
		name := c.format + "." + c.lang
		if c.secret == "" && c.format == FormatFeishu {
			name += ".unsigned"
		}
		t.Run(name, func(t *testing.T) {
			ch := newChat(c.format, c.secret, testStyle(t, c.lang, c.loc, "https://soc.example.com/"), func() time.Time { return chatClock })
			const hook = "https://robot.example/send?access_token=tok"
			target, body, err := ch.request(chatAlert(), hook)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "chat", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("payload differs from %s:\n%s", golden, pretty.Bytes())
			}

			u, _ := url.Parse(target)
			q := u.Query()
			var b map[string]any
			_ = json.Unmarshal(body, &b)
			switch {
			case c.format == FormatDingTalk:
				if q.Get("access_token") != "tok" || q.Get("timestamp") != strconv.FormatInt(chatClock.UnixMilli(), 10) {
					t.Errorf("query %v", q)
				}
				if q.Get("sign") != dingtalkSign(secret, chatClock.UnixMilli()) {
					t.Errorf("sign %q, want %q", q.Get("sign"), dingtalkSign(secret, chatClock.UnixMilli()))
				}
				// The signature is URL-encoded in the raw query.
				if !strings.Contains(u.RawQuery, "sign="+url.QueryEscape(dingtalkSign(secret, chatClock.UnixMilli()))) {
					t.Errorf("raw query %q", u.RawQuery)
				}
			case c.format == FormatFeishu && c.secret != "":
				if target != hook || b["timestamp"] != strconv.FormatInt(chatClock.Unix(), 10) || b["sign"] != feishuSign(secret, chatClock.Unix()) {
					t.Errorf("target %s, timestamp %v, sign %v, want sign %s", target, b["timestamp"], b["sign"], feishuSign(secret, chatClock.Unix()))
				}
			default:
				if target != hook || b["timestamp"] != nil || b["sign"] != nil {
					t.Errorf("unsigned request: target %s, body %s", target, body)
				}
			}
			text := string(body)
			wantTime := "2026-11-27 23:39:14 +00:00"
			if c.loc != nil {
				wantTime = "2026-11-28 07:39:14 +08:00"
			}
			for _, w := range []string{wantTime, "alice@example.com", "203.0.113.7", "Hangzhou, Zhejiang, CN", "auth.bruteforce",
				"Login from another city", "https://soc.example.com/alerts/" + chatAlert().ID} {
				if !strings.Contains(text, w) {
					t.Errorf("payload lacks %q", w)
				}
			}
		})
	}
}

// TestChatLabels: the labels follow the display language.
func TestChatLabels(t *testing.T) {
	for lang, want := range map[string][]string{
		"en":    {"[High]", "Level", "Rule", "User", "Address", "Place", "Time", "Events", "Open in Vigil"},
		"zh-CN": {"【高】", "级别", "规则", "用户", "地址", "位置", "时间", "事件数", "在 Vigil 中查看"},
	} {
		m := testStyle(t, lang, nil, "https://soc.example.com").message(chatAlert())
		var got []string
		got = append(got, m.marker)
		for _, r := range m.rows {
			got = append(got, r.label)
		}
		got = append(got, m.open)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: labels %q, want %q", lang, got, want)
		}
	}
	// Without a console URL there is no link; an unknown level is shown
	// as it is.
	a := chatAlert()
	a.Level = "urgent"
	m := testStyle(t, "en", nil, "").message(a)
	if m.link != "" || m.marker != "[urgent]" {
		t.Errorf("link %q, marker %q", m.link, m.marker)
	}
}

// TestChatEscape: values from events cannot become links, emphasis,
// mentions or HTML in the robots' markdown.
func TestChatEscape(t *testing.T) {
	a := chatAlert()
	a.User = "*admin* [x](http://evil.example) <@all> <at id=all></at> _root_ `cmd` ~~gone~~ a|b \\"
	a.Message = "see [here](http://evil.example/x) **now**\nsecond line <font color=\"info\">ok</font>"
	a.RuleTitle = "Title with [link](http://evil.example)"
	a.SrcIP = "svc_backup"
	for _, format := range []string{FormatDingTalk, FormatWeCom, FormatFeishu} {
		ch := newChat(format, "", testStyle(t, "en", nil, ""), func() time.Time { return chatClock })
		_, body, err := ch.request(a, "http://robot.example/")
		if err != nil {
			t.Fatal(err)
		}
		md := markdownOf(t, format, body)
		for _, bad := range []string{"](", "*admin*", "<@", "<at", "_root_", "`cmd`", "~~gone~~", "a|b", "**now**", "<font color=\"info\">", "\nsecond"} {
			if strings.Contains(md, bad) {
				t.Errorf("%s: markup %q from an event survives in\n%s", format, bad, md)
			}
		}
		for _, good := range []string{"＊admin＊", "［x］(http://evil.example)", "svc_backup", "＿root＿"} {
			if !strings.Contains(md, good) {
				t.Errorf("%s: %q missing from\n%s", format, good, md)
			}
		}
	}
}

// markdownOf returns the markup a robot renders from a request body: the
// markdown text, or a Feishu card's lark_md texts (its plain_text ones
// are not parsed).
func markdownOf(t *testing.T, format string, body []byte) string {
	t.Helper()
	switch format {
	case FormatDingTalk:
		var b dingtalkBody
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		return b.Markdown.Text
	case FormatWeCom:
		var b wecomBody
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		return b.Markdown.Content
	}
	var b struct {
		Card struct {
			Elements []struct {
				Text   *feishuText   `json:"text"`
				Fields []feishuField `json:"fields"`
			} `json:"elements"`
		} `json:"card"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	var md []string
	for _, e := range b.Card.Elements {
		if e.Text != nil && e.Text.Tag == "lark_md" {
			md = append(md, e.Text.Content)
		}
		for _, f := range e.Fields {
			if f.Text.Tag != "lark_md" {
				t.Errorf("field tag %q", f.Text.Tag)
			}
			md = append(md, f.Text.Content)
		}
	}
	return strings.Join(md, "\n")
}

// TestChatLimits: a long message is cut on a rune boundary so that the
// request fits the robot's limit.
func TestChatLimits(t *testing.T) {
	for _, msg := range []string{
		strings.Repeat("告警", 10000),                 // 3 bytes a rune
		strings.Repeat(`"\`, 10000),                 // doubled by JSON
		strings.Repeat("*", 10000),                  // 3 bytes once escaped
		strings.Repeat("a", 4000) + "é" + "tail...", // a cut near a 2-byte rune
	} {
		for _, format := range []string{FormatDingTalk, FormatWeCom, FormatFeishu} {
			a := chatAlert()
			a.Message = msg
			a.User = strings.Repeat("长", 1000)
			ch := newChat(format, "SECx", testStyle(t, "zh-CN", shanghai(t), "https://soc.example.com"), func() time.Time { return chatClock })
			_, body, err := ch.request(a, "http://robot.example/")
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			size := len(body)
			if format == FormatWeCom {
				size = len(markdownOf(t, format, body))
			}
			if size > ch.r.limit() {
				t.Errorf("%s: %d bytes, limit %d", format, size, ch.r.limit())
			}
			// The user name is cut too: a second "…" is the message's.
			if cut := strings.Count(string(body), "…") > 1; cut && size < ch.r.limit()*9/10 {
				t.Errorf("%s: cut to %d bytes, far below the limit %d", format, size, ch.r.limit())
			}
			if !utf8.Valid(body) {
				t.Errorf("%s: body not valid UTF-8", format)
			}
			if !strings.Contains(string(body), strings.Repeat("长", maxValue-1)+"…") || strings.Contains(string(body), strings.Repeat("长", maxValue)) {
				t.Errorf("%s: the user name is not cut to %d runes", format, maxValue)
			}
		}
	}
	if got := cutBytes("aéb", 3); got != "" { // "…" leaves no room
		t.Errorf("cutBytes: %q", got)
	}
	if got := cutBytes("éé…", 7); got != "éé…" {
		t.Errorf("cutBytes of a fitting string: %q", got)
	}
	if got := cutBytes("ééé", 5); got != "é…" {
		t.Errorf("cutBytes: %q", got)
	}
}

// TestRobotAnswers: a robot's answer to HTTP 200 is a success, a
// permanent failure or a retry, by its documented codes.
func TestRobotAnswers(t *testing.T) {
	const (
		ok = iota
		perm
		retry
		wait
	)
	for _, c := range []struct {
		r     robot
		body  string
		want  int
		after time.Duration
	}{
		{dingtalk{}, `{"errcode":0,"errmsg":"ok"}`, ok, 0},
		{dingtalk{}, `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`, perm, 0},
		{dingtalk{}, `{"errcode":310000,"errmsg":"keywords not in content"}`, perm, 0},
		{dingtalk{}, `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`, wait, 10 * time.Minute},
		{dingtalk{}, `{"errcode":-1,"errmsg":"系统繁忙"}`, retry, 0},
		{dingtalk{}, `<html>proxy</html>`, retry, 0},
		{dingtalk{}, `{"code":0}`, retry, 0}, // not DingTalk's answer
		{wecom{}, `{"errcode":0,"errmsg":"ok"}`, ok, 0},
		{wecom{}, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1]"}`, perm, 0},
		{wecom{}, `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`, perm, 0},
		{wecom{}, `{"errcode":45009,"errmsg":"api freq out of limit"}`, wait, time.Minute},
		{wecom{}, `{"errcode":-1,"errmsg":"system busy"}`, retry, 0},
		{feishu{}, `{"code":0,"msg":"success","data":{}}`, ok, 0},
		{feishu{}, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`, ok, 0},
		{feishu{}, `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`, ok, 0},
		{feishu{}, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`, perm, 0},
		{feishu{}, `{"code":19024,"msg":"Key Words Not Found"}`, perm, 0},
		{feishu{}, `{"code":19022,"msg":"Ip Not Allowed"}`, perm, 0},
		{feishu{}, `{"code":19001,"msg":"param invalid: incoming webhook access token invalid"}`, perm, 0},
		{feishu{}, `{"code":11232,"msg":"frequency limited"}`, wait, time.Minute},
		{feishu{}, `{"code":9499,"msg":"Bad Request","data":{}}`, retry, 0},
		{feishu{}, ``, retry, 0},
	} {
		err := c.r.answer([]byte(c.body))
		var pe *permanentError
		var ra *retryAfterError
		got := retry
		switch {
		case err == nil:
			got = ok
		case errors.As(err, &pe):
			got = perm
		case errors.As(err, &ra):
			got = wait
		}
		if got != c.want || (got == wait && ra.after != c.after) {
			t.Errorf("%T answer %s: %v (kind %d), want kind %d", c.r, c.body, err, got, c.want)
		}
	}
}

// TestPacer: the robots' rate limits space requests out.
func TestPacer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var slept []time.Duration
	p := newPacer(feishu{}.rates(), func() time.Time { return now })
	p.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	start := now
	for range 100 {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 5 a second: 100 requests take 19 seconds of waiting.
	if got := now.Sub(start); got != 19*time.Second {
		t.Errorf("100 requests took %s, want 19s", got)
	}
	// The 101st waits for the minute of the first to pass.
	slept = nil
	if err := p.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if now.Sub(start) != time.Minute || len(slept) != 1 {
		t.Errorf("101st request at +%s after %v", now.Sub(start), slept)
	}
	// A cancelled wait returns the context's error.
	p = newPacer(dingtalk{}.rates(), func() time.Time { return now })
	for range 20 {
		_ = p.wait(context.Background())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}

// robotServer answers every request with the next of its answers (the
// last one repeats) and records the requests.
type robotServer struct {
	*httptest.Server
	mu      sync.Mutex
	answers []string
	reqs    []*http.Request
	bodies  [][]byte
}

func newRobotServer(t *testing.T, answers ...string) *robotServer {
	s := &robotServer{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		i := len(s.reqs)
		s.reqs = append(s.reqs, r)
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, s.answers[min(i, len(s.answers)-1)])
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *robotServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// TestChatDelivery: through a Notifier, a robot's success answer counts
// the alert sent, a retryable code is retried, and a permanent one fails
// the alert at once.
func TestChatDelivery(t *testing.T) {
	good := newRobotServer(t, `{"errcode":-1,"errmsg":"busy"}`, `{"errcode":0,"errmsg":"ok"}`)
	bad := newRobotServer(t, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`)
	reg := prometheus.NewRegistry()
	n := newNotifier(t, Config{
		Language:   "zh-CN",
		Location:   shanghai(t),
		ConsoleURL: "https://soc.example.com",
		Webhooks: []WebhookConfig{
			{Name: "ding", URL: good.URL + "/robot/send?access_token=t", Format: FormatDingTalk, Secret: "SECx", Delivery: fastRetry(10, 5)},
			{Name: "lark", URL: bad.URL + "/open-apis/bot/v2/hook/x", Format: FormatFeishu, Secret: "wrong", Delivery: fastRetry(10, 5)},
		},
	}, reg, 5*time.Second)
	n.Send(chatAlert())
	waitFor(t, "dingtalk sent", func() bool { return statusOf(t, n, "ding").Sent == 1 })
	waitFor(t, "feishu failed", func() bool { return statusOf(t, n, "lark").Failed == 1 })

	if st := statusOf(t, n, "ding"); st.Errors != 1 || st.Failed != 0 || good.count() != 2 {
		t.Errorf("dingtalk: status %+v after %d requests", st, good.count())
	}
	st := statusOf(t, n, "lark")
	if st.Errors != 1 || bad.count() != 1 || !strings.Contains(st.LastError, "feishu answered code 19021") {
		t.Errorf("feishu: status %+v after %d requests", st, bad.count())
	}
	if strings.Contains(st.LastError, "/open-apis/") {
		t.Errorf("the error shows the URL's path: %s", st.LastError)
	}
	if v := metricValue(t, reg, "vigil_notify_failed_total", "lark"); v != 1 {
		t.Errorf("failed_total = %v", v)
	}
	good.mu.Lock()
	r, body := good.reqs[1], good.bodies[1]
	good.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(string(body), "2026-11-28 07:39:14 +08:00") || !strings.Contains(string(body), "级别") {
		t.Errorf("body %s", body)
	}
	if r.URL.Query().Get("sign") == "" || r.URL.Query().Get("access_token") != "t" {
		t.Errorf("query %v", r.URL.Query())
	}
}

// TestWebhookFormatConfig checks the validation of format and secrets.
func TestWebhookFormatConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := write("private", " SECabc\n", 0o600)
	group := write("group", "SECabc", 0o640)
	open := write("open", "SECabc", 0o644)
	empty := write("empty", "\n", 0o600)
	const u = "https://oapi.dingtalk.com/robot/send?access_token=x"
	for _, c := range []struct {
		cfg  WebhookConfig
		want string // "" valid
	}{
		{WebhookConfig{URL: u}, ""},
		{WebhookConfig{URL: u, Format: "json"}, ""},
		{WebhookConfig{URL: u, Format: FormatDingTalk}, ""},
		{WebhookConfig{URL: u, Format: FormatDingTalk, Secret: "SECabc"}, ""},
		{WebhookConfig{URL: u, Format: FormatFeishu, SecretFile: private}, ""},
		{WebhookConfig{URL: u, Format: FormatFeishu, SecretFile: group}, ""},
		{WebhookConfig{URL: u, Format: FormatWeCom}, ""},
		{WebhookConfig{URL: u, Format: "slack"}, `format "slack": want json, dingtalk, wecom or feishu`},
		{WebhookConfig{URL: u, Secret: "x"}, `secret: only dingtalk and feishu robots sign their requests, not format "json"`},
		{WebhookConfig{URL: u, Format: FormatWeCom, Secret: "x"}, `not format "wecom"`},
		{WebhookConfig{URL: u, Format: FormatDingTalk, Secret: "x", SecretFile: private}, "secret and secret_file: set one, not both"},
		{WebhookConfig{URL: u, Format: FormatDingTalk, SecretFile: open}, "lets other users read the secret"},
		{WebhookConfig{URL: u, Format: FormatDingTalk, SecretFile: empty}, "empty"},
		{WebhookConfig{URL: u, Format: FormatDingTalk, SecretFile: filepath.Join(dir, "none")}, "no such file"},
	} {
		err := c.cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	s, err := WebhookConfig{SecretFile: private}.secret()
	if err != nil || s != "SECabc" {
		t.Errorf("secret from file: %q, %v", s, err)
	}
}
