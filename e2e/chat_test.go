package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// chatRule raises one alert per user whose mail login fails.
const chatRule = `
id: e2e-chat-login
title: 邮箱登录失败
type: match
level: high
match: {event.category: authentication, event.outcome: failure}
group_by: [user.name]
suppress: 1h
message: '{{.Field "user.name"}} 从 {{.Field "source.ip"}} 登录失败'
`

// robotCall is one request a robot took, with the texts it would show.
type robotCall struct {
	robot string // the robot's name: the second element of the path
	ok    bool   // the robot accepted it
	text  string // what it shows, markdown or card texts joined
	// markup is the part of text the robot renders as markup (Feishu:
	// the lark_md texts; its plain_text is shown as it is).
	markup string
}

// robotFarm plays DingTalk's custom robot, WeCom's group robot and
// Feishu's custom bot at /dingtalk/<name>/robot/send,
// /wecom/<name>/cgi-bin/webhook/send and
// /feishu/<name>/open-apis/bot/v2/hook/<id>. Each checks a request as its
// platform documents it (method, content type, JSON schema, size,
// credential, signature with a timestamp within an hour) and answers with
// the platform's success or error body.
type robotFarm struct {
	*httptest.Server
	secrets map[string]string // robot name -> the signing secret (DingTalk, Feishu) or key (WeCom) it expects
	mu      sync.Mutex
	calls   []robotCall
	errs    []string // requests a platform would reject as malformed
}

func newRobotFarm(t *testing.T, secrets map[string]string) *robotFarm {
	f := &robotFarm{secrets: secrets}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *robotFarm) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	problem := func(format string, args ...any) {
		f.mu.Lock()
		f.errs = append(f.errs, fmt.Sprintf("%s: ", r.URL.Path)+fmt.Sprintf(format, args...))
		f.mu.Unlock()
	}
	if r.Method != http.MethodPost || len(parts) < 3 {
		problem("%s: want POST /<platform>/<name>/...", r.Method)
		http.NotFound(w, r)
		return
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" ||
		params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8") {
		problem("content type %q: want application/json in UTF-8", r.Header.Get("Content-Type"))
	}
	if !utf8.Valid(body) {
		problem("the body is not UTF-8")
	}
	name := parts[1]
	var answer string
	var call robotCall
	switch parts[0] {
	case "dingtalk":
		call, answer = f.dingtalk(r, body, f.secrets[name], problem)
	case "wecom":
		call, answer = f.wecom(r, body, f.secrets[name], problem)
	case "feishu":
		call, answer = f.feishu(body, f.secrets[name], problem)
	default:
		http.NotFound(w, r)
		return
	}
	call.robot = name
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, answer)
}

// strictJSON decodes body into v, refusing fields the schema lacks.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// withinHour reports whether a Unix time in unit is within an hour of now,
// as DingTalk and Feishu require of a signature's timestamp.
func withinHour(ts string, unit time.Duration) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	d := time.Since(time.Unix(0, n*int64(unit)))
	return d < time.Hour && d > -time.Hour
}

func hmacBase64(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// dingtalk: "自定义机器人" with the 加签 setting: access_token, timestamp
// (ms) and sign (base64 of HMAC-SHA256 over timestamp+"\n"+secret keyed
// with the secret) in the query; {msgtype: markdown, markdown: {title,
// text}}; at most 20000 bytes; {errcode, errmsg} answers.
func (f *robotFarm) dingtalk(r *http.Request, body []byte, secret string, problem func(string, ...any)) (robotCall, string) {
	q := r.URL.Query()
	if q.Get("access_token") != "tok" {
		return robotCall{}, `{"errcode":300001,"errmsg":"token is not exist"}`
	}
	ts := q.Get("timestamp")
	if !withinHour(ts, time.Millisecond) {
		return robotCall{}, `{"errcode":310000,"errmsg":"invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`
	}
	if !hmac.Equal([]byte(q.Get("sign")), []byte(hmacBase64(secret, ts+"\n"+secret))) {
		return robotCall{}, `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`
	}
	if len(body) > 20000 {
		problem("body of %d bytes", len(body))
		return robotCall{}, `{"errcode":460101,"errmsg":"message too long"}`
	}
	var m struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
		At *struct {
			AtMobiles []string `json:"atMobiles"`
			AtUserIDs []string `json:"atUserIds"`
			IsAtAll   bool     `json:"isAtAll"`
		} `json:"at"`
	}
	if err := strictJSON(body, &m); err != nil || m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Title == "" || m.Markdown.Text == "" {
		problem("not a markdown message (%v): %s", err, body)
		return robotCall{}, `{"errcode":40035,"errmsg":"缺少参数 json"}`
	}
	return robotCall{ok: true, text: m.Markdown.Title + "\n" + m.Markdown.Text, markup: m.Markdown.Text}, `{"errcode":0,"errmsg":"ok"}`
}

// wecom: "群机器人": the key in the query; {msgtype: markdown, markdown:
// {content}} with content at most 4096 bytes; {errcode, errmsg} answers.
func (f *robotFarm) wecom(r *http.Request, body []byte, key string, problem func(string, ...any)) (robotCall, string) {
	if r.URL.Query().Get("key") != key {
		return robotCall{}, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`
	}
	var m struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
	}
	if err := strictJSON(body, &m); err != nil || m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Content == "" {
		problem("not a markdown message (%v): %s", err, body)
		return robotCall{}, `{"errcode":40008,"errmsg":"invalid message type"}`
	}
	if n := len(m.Markdown.Content); n > 4096 {
		problem("content of %d bytes", n)
		return robotCall{}, `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`
	}
	return robotCall{ok: true, text: m.Markdown.Content, markup: m.Markdown.Content}, `{"errcode":0,"errmsg":"ok"}`
}

// feishuText is a card text object.
type feishuText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// feishu: "自定义机器人" with 签名校验: timestamp (s, a string) and sign
// (base64 of HMAC-SHA256 keyed with timestamp+"\n"+secret over nothing)
// in the body; {msg_type: interactive, card: {config, header, elements}};
// at most 20 KB; {code, msg, data} answers.
func (f *robotFarm) feishu(body []byte, secret string, problem func(string, ...any)) (robotCall, string) {
	const badSign = `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`
	if len(body) > 20<<10 {
		problem("body of %d bytes", len(body))
		return robotCall{}, `{"code":9499,"data":{},"msg":"Bad Request"}`
	}
	var m struct {
		Timestamp string `json:"timestamp"`
		Sign      string `json:"sign"`
		MsgType   string `json:"msg_type"`
		Card      *struct {
			Config struct {
				WideScreenMode bool `json:"wide_screen_mode"`
			} `json:"config"`
			Header struct {
				Title    feishuText `json:"title"`
				Template string     `json:"template"`
			} `json:"header"`
			Elements []struct {
				Tag    string      `json:"tag"`
				Text   *feishuText `json:"text"`
				Fields []struct {
					IsShort bool       `json:"is_short"`
					Text    feishuText `json:"text"`
				} `json:"fields"`
				Actions []struct {
					Tag  string     `json:"tag"`
					Text feishuText `json:"text"`
					Type string     `json:"type"`
					URL  string     `json:"url"`
				} `json:"actions"`
			} `json:"elements"`
		} `json:"card"`
	}
	if err := strictJSON(body, &m); err != nil {
		problem("not a card message: %v: %s", err, body)
		return robotCall{}, `{"code":9499,"data":{},"msg":"Bad Request"}`
	}
	if secret != "" && (!withinHour(m.Timestamp, time.Second) ||
		!hmac.Equal([]byte(m.Sign), []byte(hmacBase64(m.Timestamp+"\n"+secret, "")))) {
		return robotCall{}, badSign
	}
	if m.MsgType != "interactive" || m.Card == nil || m.Card.Header.Title.Tag != "plain_text" || m.Card.Header.Title.Content == "" {
		problem("not an interactive card: %s", body)
		return robotCall{}, `{"code":9499,"data":{},"msg":"Bad Request"}`
	}
	texts := []string{m.Card.Header.Title.Content}
	var markup []string
	textTag := func(tx feishuText) {
		switch tx.Tag {
		case "lark_md":
			markup = append(markup, tx.Content)
		case "plain_text":
		default:
			problem("text tag %q", tx.Tag)
		}
		texts = append(texts, tx.Content)
	}
	for _, e := range m.Card.Elements {
		switch e.Tag {
		case "div":
			if e.Text != nil {
				textTag(*e.Text)
			}
			for _, fl := range e.Fields {
				textTag(fl.Text)
			}
		case "action":
			for _, a := range e.Actions {
				if a.Tag != "button" {
					problem("action tag %q", a.Tag)
				}
				textTag(a.Text)
				texts = append(texts, a.URL)
			}
		default:
			problem("element tag %q", e.Tag)
		}
	}
	return robotCall{ok: true, text: strings.Join(texts, "\n"), markup: strings.Join(markup, "\n")},
		`{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`
}

// wait returns the accepted call of robot whose text contains want.
func (f *robotFarm) wait(t *testing.T, robot, want string) robotCall {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for _, c := range f.calls {
			if c.robot == robot && c.ok && strings.Contains(c.text, want) {
				f.mu.Unlock()
				return c
			}
		}
		f.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Fatalf("robot %s took no message with %q; calls %+v, problems %q", robot, want, f.calls, f.errs)
	return robotCall{}
}

// count returns the requests robot got.
func (f *robotFarm) count(robot string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.robot == robot {
			n++
		}
	}
	return n
}

// TestChatRobots: a real vigil posts its alerts to DingTalk (signed),
// WeCom and Feishu (signed) robots played by a local receiver that checks
// every request as the platforms document them: the messages are in
// Chinese with the level, rule, user, address, time in +08:00 and a link
// to the console, and markup in a user name stays text. Robots that
// refuse the signature or the key fail the alert at once: counted in
// vigil_notify_failed_total, one request per alert, no retries.
func TestChatRobots(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rulesDir, "login.yaml"), []byte(chatRule), 0o644); err != nil {
		t.Fatal(err)
	}
	const dingSecret, larkSecret = "SEC6a1f0e8a7c3b9d2e4f5061728394a5b6c7d8e9f00112233445566778899aabb", "zL3kq9fSx2"
	secretFile := filepath.Join(dir, "dingtalk-secret")
	if err := os.WriteFile(secretFile, []byte(dingSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	farm := newRobotFarm(t, map[string]string{
		"ding": dingSecret, "ding-badsign": dingSecret,
		"wecom": "k-693a91f6", "wecom-badkey": "k-693a91f6",
		"lark": larkSecret, "lark-badsign": larkSecret,
	})
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%[1]d
detect:
  builtin: false
  rules_dir: %[2]s
display:
  timezone: Asia/Shanghai
  language: zh-CN
http:
  external_url: https://vigil.corp.example/
alerts:
  webhooks:
    - {name: ding, url: '%[3]s/dingtalk/ding/robot/send?access_token=tok', format: dingtalk, secret_file: %[4]s}
    - {name: ding-badsign, url: '%[3]s/dingtalk/ding-badsign/robot/send?access_token=tok', format: dingtalk, secret: SECnotthisone}
    - {name: wecom, url: '%[3]s/wecom/wecom/cgi-bin/webhook/send?key=k-693a91f6', format: wecom}
    - {name: wecom-badkey, url: '%[3]s/wecom/wecom-badkey/cgi-bin/webhook/send?key=k-deleted', format: wecom}
    - {name: lark, url: '%[3]s/feishu/lark/open-apis/bot/v2/hook/0b6c', format: feishu, secret: %[5]s}
    - {name: lark-badsign, url: '%[3]s/feishu/lark-badsign/open-apis/bot/v2/hook/0b6c', format: feishu, secret: notthisone}
`, syslogPort, rulesDir, farm.URL, secretFile, larkSecret)
	v := startVigil(t, vigilOpts{syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)

	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	sendLines(t, addr, []string{imapLine(at, "203.0.113.9", "zhang_wei", false)})
	a := v.waitAlert(t, "event.dataset:vigil.alert user.name:zhang_wei")
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	wantTime := at.In(shanghai).Format("2006-01-02 15:04:05") + " +08:00"
	link := "https://vigil.corp.example/alerts/" + a["alert.id"]
	for _, robot := range []string{"ding", "wecom", "lark"} {
		c := farm.wait(t, robot, link)
		for _, want := range []string{"【高】", "级别", "高", "规则", "e2e-chat-login", "邮箱登录失败", "用户", "zhang_wei",
			"地址", "203.0.113.9", "时间", wantTime, "zhang_wei 从 203.0.113.9 登录失败", "在 Vigil 中查看"} {
			if !strings.Contains(c.text, want) {
				t.Errorf("%s: message lacks %q:\n%s", robot, want, c.text)
			}
		}
	}
	for _, name := range []string{"ding", "wecom", "lark"} {
		v.waitMetric(t, `vigil_notify_sent_total{channel="`+name+`"}`, 1)
	}
	// The robots that refuse the request fail the alert on the first
	// answer: one request, one error, one failure.
	for _, name := range []string{"ding-badsign", "wecom-badkey", "lark-badsign"} {
		v.waitMetric(t, `vigil_notify_failed_total{channel="`+name+`"}`, 1)
		m := v.metrics(t)
		if n := farm.count(name); n != 1 || m[`vigil_notify_errors_total{channel="`+name+`"}`] != 1 {
			t.Errorf("%s: %d requests, %v errors for one alert, want 1 and 1 (a permanent error is not retried)",
				name, n, m[`vigil_notify_errors_total{channel="`+name+`"}`])
		}
	}
	st := v.status(t)
	det, _ := st["detect"].(map[string]any)
	chans, _ := det["alert_channels"].([]any)
	for _, c := range chans {
		c, _ := c.(map[string]any)
		if c["name"] == "ding-badsign" && !strings.Contains(fmt.Sprint(c["last_error"]), "dingtalk answered code 310000: sign not match") {
			t.Errorf("ding-badsign status: %v", c)
		}
		if strings.Contains(fmt.Sprint(c["target"]), "/dingtalk/") || strings.Contains(fmt.Sprint(c["last_error"]), "access_token") {
			t.Errorf("status shows the URL's path or query: %v", c)
		}
	}

	// Markup in a user name stays text: no link, no emphasis.
	hostile := "*admin*[x](http://evil.example)@corp.example" // the @ keeps the parser from reading a canonical name
	sendLines(t, addr, []string{imapLine(at.Add(time.Second), "198.51.100.4", hostile, false)})
	v.waitAlert(t, `event.dataset:vigil.alert source.ip:198.51.100.4`)
	for _, robot := range []string{"ding", "wecom", "lark"} {
		c := farm.wait(t, robot, "198.51.100.4")
		if strings.Contains(c.markup, "](http://evil") || strings.Contains(c.markup, "*admin*") || !strings.Contains(c.markup, "＊admin＊［x］(http://evil.example)") {
			t.Errorf("%s: the user name's markup is live:\n%s", robot, c.markup)
		}
	}
	for _, name := range []string{"ding-badsign", "wecom-badkey", "lark-badsign"} {
		v.waitMetric(t, `vigil_notify_failed_total{channel="`+name+`"}`, 2)
		if n := farm.count(name); n != 2 {
			t.Errorf("%s: %d requests for two alerts", name, n)
		}
	}
	farm.mu.Lock()
	defer farm.mu.Unlock()
	for _, p := range farm.errs {
		t.Errorf("a robot would reject: %s", p)
	}
}
