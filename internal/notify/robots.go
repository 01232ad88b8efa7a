package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
)

// The three robots below follow their platforms' documentation:
//
//   - DingTalk: "自定义机器人接入" / "自定义机器人发送群消息" (custom robot,
//     open.dingtalk.com), with its message types ("消息类型和数据格式") and
//     its security settings ("安全设置": 加签);
//   - WeCom: "群机器人配置说明" (group robot,
//     developer.work.weixin.qq.com/document/path/91770) and the global
//     error codes ("全局错误码");
//   - Feishu / Lark: "自定义机器人使用指南" (custom bot,
//     open.feishu.cn, bot-v3 add-custom-bot) and the message card
//     reference ("消息卡片").

// dingtalk is DingTalk's custom robot: a markdown message
// {msgtype, markdown: {title, text}}; signed in the URL's query.
type dingtalk struct{}

type dingtalkBody struct {
	MsgType  string           `json:"msgtype"`
	Markdown dingtalkMarkdown `json:"markdown"`
}

type dingtalkMarkdown struct {
	// Title is what the conversation list shows; Text the message.
	Title string `json:"title"`
	Text  string `json:"text"`
}

// dingtalkColors colour the level marker. The markdown subset documented
// has no colour; <font color=...> is the extension DingTalk clients
// render.
var dingtalkColors = map[string]string{
	alert.LevelCritical: "#B71C1C",
	alert.LevelHigh:     "#E53935",
	alert.LevelMedium:   "#FB8C00",
	alert.LevelLow:      "#1E88E5",
	alert.LevelInfo:     "#757575",
}

func (dingtalk) payload(m *chatMessage, _, _ string) any {
	var b strings.Builder
	b.WriteString("#### " + fontMark(m, dingtalkColors) + " " + mdEscape(m.title) + "\n\n")
	for _, r := range m.rows {
		// Two spaces before the newline break the line (DingTalk's
		// markdown joins single newlines otherwise).
		fmt.Fprintf(&b, "**%s**: %s  \n", r.label, mdEscape(r.value))
	}
	if m.text != "" {
		fmt.Fprintf(&b, "\n> %s\n", mdEscape(m.text))
	}
	if m.link != "" {
		fmt.Fprintf(&b, "\n[%s](%s)\n", m.open, m.link)
	}
	return dingtalkBody{
		MsgType:  "markdown",
		Markdown: dingtalkMarkdown{Title: m.marker + " " + m.title, Text: b.String()},
	}
}

// size: DingTalk refuses a body over 20000 bytes ("body 大小不合法").
func (dingtalk) size(_ any, body []byte) int { return len(body) }
func (dingtalk) limit() int                  { return 20000 }

// sign is the 加签 setting: the timestamp in milliseconds, a newline and
// the secret, HMAC-SHA256 keyed with the secret, base64; sent as the
// query parameters timestamp and sign (URL-encoded there). DingTalk
// refuses a timestamp more than an hour from its clock.
func (dingtalk) sign(secret string, now time.Time) (string, string, bool) {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	return ts, base64.StdEncoding.EncodeToString(mac.Sum(nil)), true
}

// rates: "每个机器人每分钟最多发送20条", beyond which the robot is limited
// for 10 minutes.
func (dingtalk) rates() []rateLimit { return []rateLimit{{20, time.Minute}} }

// answer reads {errcode, errmsg}. Permanent: 310000, the security
// settings refused the message (sign not match, invalid timestamp,
// keywords not in content, ip not in whitelist). Rate-limited: 130101
// (send too fast, exceed 20 times per minute), retried after the 10
// minutes the robot stays limited. -1 (system busy) and other codes are
// retried.
func (dingtalk) answer(body []byte) error {
	return errcodeAnswer("dingtalk", body, []int{310000}, map[int]time.Duration{130101: 10 * time.Minute})
}

// wecom is WeCom's group robot: a markdown message
// {msgtype, markdown: {content}}. It has no signing: the key in the URL
// is the credential.
type wecom struct{}

type wecomBody struct {
	MsgType  string        `json:"msgtype"`
	Markdown wecomMarkdown `json:"markdown"`
}

type wecomMarkdown struct {
	Content string `json:"content"`
}

// wecomColors: WeCom's markdown knows three colours, info (green),
// comment (grey) and warning (orange-red).
var wecomColors = map[string]string{
	alert.LevelCritical: "warning",
	alert.LevelHigh:     "warning",
	alert.LevelMedium:   "warning",
	alert.LevelLow:      "info",
	alert.LevelInfo:     "comment",
}

func (wecom) payload(m *chatMessage, _, _ string) any {
	var b strings.Builder
	b.WriteString("**" + fontMark(m, wecomColors) + " " + mdEscape(m.title) + "**\n")
	for _, r := range m.rows {
		fmt.Fprintf(&b, "> %s: %s\n", r.label, mdEscape(r.value))
	}
	if m.text != "" {
		fmt.Fprintf(&b, "\n%s\n", mdEscape(m.text))
	}
	if m.link != "" {
		fmt.Fprintf(&b, "\n[%s](%s)", m.open, m.link)
	}
	return wecomBody{MsgType: "markdown", Markdown: wecomMarkdown{Content: strings.TrimSuffix(b.String(), "\n")}}
}

// size: markdown.content is at most 4096 bytes of UTF-8 (errcode 40058
// beyond).
func (wecom) size(v any, _ []byte) int { return len(v.(wecomBody).Markdown.Content) }
func (wecom) limit() int               { return 4096 }

func (wecom) sign(string, time.Time) (string, string, bool) { return "", "", false }

// rates: "每个机器人发送的消息不能超过20条/分钟".
func (wecom) rates() []rateLimit { return []rateLimit{{20, time.Minute}} }

// answer reads {errcode, errmsg}. Permanent: 93000 (invalid webhook url:
// the key is wrong or the robot removed) and 40058 (a field too long or
// invalid). Rate-limited: 45009 (api freq out of limit), retried after a
// minute. -1 (system busy) and other codes are retried.
func (wecom) answer(body []byte) error {
	return errcodeAnswer("wecom", body, []int{93000, 40058}, map[int]time.Duration{45009: time.Minute})
}

// fontMark is m's level marker in the colour colors give its level, as
// DingTalk's and WeCom's <font color=...>.
func fontMark(m *chatMessage, colors map[string]string) string {
	if c, ok := colors[m.level]; ok {
		return `<font color="` + c + `">` + m.mdMark + `</font>`
	}
	return m.mdMark
}

// errcodeAnswer reads DingTalk's and WeCom's {errcode, errmsg}.
func errcodeAnswer(platform string, body []byte, perm []int, waits map[int]time.Duration) error {
	var a struct {
		Code *int   `json:"errcode"`
		Msg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Code == nil {
		return fmt.Errorf("%s: %w%s", platform, errNoCode, excerpt(body))
	}
	if *a.Code == 0 {
		return nil
	}
	return classify(&robotError{platform: platform, code: *a.Code, msg: a.Msg}, perm, waits)
}

// feishu is Feishu's (Lark's) custom bot: an interactive card
// {msg_type: "interactive", card: {header, elements}}; signed in the body.
type feishu struct{}

type feishuBody struct {
	Timestamp string     `json:"timestamp,omitempty"`
	Sign      string     `json:"sign,omitempty"`
	MsgType   string     `json:"msg_type"`
	Card      feishuCard `json:"card"`
}

type feishuCard struct {
	Config   feishuConfig `json:"config"`
	Header   feishuHeader `json:"header"`
	Elements []any        `json:"elements"`
}

type feishuConfig struct {
	WideScreenMode bool `json:"wide_screen_mode"`
}

type feishuHeader struct {
	Title    feishuText `json:"title"`
	Template string     `json:"template"`
}

// feishuText is a card text: tag plain_text (shown as it is) or lark_md
// (Feishu's markdown).
type feishuText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

type feishuDiv struct {
	Tag    string        `json:"tag"` // div
	Text   *feishuText   `json:"text,omitempty"`
	Fields []feishuField `json:"fields,omitempty"`
}

type feishuField struct {
	IsShort bool       `json:"is_short"`
	Text    feishuText `json:"text"`
}

type feishuAction struct {
	Tag     string         `json:"tag"` // action
	Actions []feishuButton `json:"actions"`
}

type feishuButton struct {
	Tag  string     `json:"tag"` // button
	Text feishuText `json:"text"`
	Type string     `json:"type"`
	URL  string     `json:"url"`
}

// feishuTemplates colour the card's header by level.
var feishuTemplates = map[string]string{
	alert.LevelCritical: "carmine",
	alert.LevelHigh:     "red",
	alert.LevelMedium:   "orange",
	alert.LevelLow:      "yellow",
	alert.LevelInfo:     "grey",
}

func (feishu) payload(m *chatMessage, ts, sign string) any {
	tpl, ok := feishuTemplates[m.level]
	if !ok {
		tpl = "blue"
	}
	// The header and the alert's text are plain_text: nothing in them is
	// markup. The fields pair a bold label with a value in lark_md, two
	// to a line.
	fields := make([]feishuField, len(m.rows))
	for i, r := range m.rows {
		fields[i] = feishuField{IsShort: true, Text: feishuText{Tag: "lark_md", Content: "**" + r.label + "**\n" + mdEscape(r.value)}}
	}
	elems := []any{feishuDiv{Tag: "div", Fields: fields}}
	if m.text != "" {
		elems = append(elems, feishuDiv{Tag: "div", Text: &feishuText{Tag: "plain_text", Content: m.text}})
	}
	if m.link != "" {
		elems = append(elems, feishuAction{Tag: "action", Actions: []feishuButton{{
			Tag: "button", Text: feishuText{Tag: "plain_text", Content: m.open}, Type: "primary", URL: m.link,
		}}})
	}
	return feishuBody{
		Timestamp: ts,
		Sign:      sign,
		MsgType:   "interactive",
		Card: feishuCard{
			Config:   feishuConfig{WideScreenMode: true},
			Header:   feishuHeader{Title: feishuText{Tag: "plain_text", Content: m.marker + " " + m.title}, Template: tpl},
			Elements: elems,
		},
	}
}

// size: the request body is at most 20 KB.
func (feishu) size(_ any, body []byte) int { return len(body) }
func (feishu) limit() int                  { return 20000 }

// sign is the 签名校验 setting: the timestamp in seconds, a newline and
// the secret form the HMAC-SHA256 key, over an empty message; base64.
// Sent in the body as timestamp (a string) and sign. Feishu refuses a
// timestamp more than an hour from its clock.
func (feishu) sign(secret string, now time.Time) (string, string, bool) {
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	return ts, base64.StdEncoding.EncodeToString(mac.Sum(nil)), false
}

// rates: "100 次/分钟，5 次/秒" per bot.
func (feishu) rates() []rateLimit { return []rateLimit{{5, time.Second}, {100, time.Minute}} }

// answer reads {code, msg} (older answers: {StatusCode, StatusMessage}).
// Permanent: 19001 (param invalid: the webhook's token is wrong), 19021
// (sign match fail or timestamp is not within one hour from current
// time), 19022 (Ip Not Allowed), 19024 (Key Words Not Found).
// Rate-limited: 11232 (frequency limited), retried after a minute. Other
// codes, 9499 (Bad Request) among them, are retried.
func (feishu) answer(body []byte) error {
	var a struct {
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
		StatusMsg  string `json:"StatusMessage"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("feishu: %w%s", errNoCode, excerpt(body))
	}
	if a.Code == nil {
		a.Code, a.Msg = a.StatusCode, a.StatusMsg
	}
	if a.Code == nil {
		return fmt.Errorf("feishu: %w%s", errNoCode, excerpt(body))
	}
	if *a.Code == 0 {
		return nil
	}
	return classify(&robotError{platform: "feishu", code: *a.Code, msg: a.Msg},
		[]int{19001, 19021, 19022, 19024}, map[int]time.Duration{11232: time.Minute})
}
