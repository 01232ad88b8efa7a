package notify

import "strings"

// The default mail in Simplified Chinese (notify.Config.Language
// "zh-CN"); DefaultSubject and DefaultBody are the English one.
const (
	// DefaultSubjectZH is the subject template in Chinese.
	DefaultSubjectZH = "[vigil] {{level .Level}} {{.RuleTitle}}：{{.Group}}"
	// DefaultBodyZH is the body template in Chinese. Labels are padded to
	// ten columns of a fixed-width font (a Chinese character takes two).
	DefaultBodyZH = `{{.Message}}

规则：    {{.RuleTitle}}（{{.RuleID}}）
威胁：    {{.Threat}}
级别：    {{level .Level}}{{if .FollowUp}}（后续告警）{{end}}
类型：    {{.Type}}
分组：    {{.Group}}
事件数：  {{.Count}}
触发时间：{{local .TS}}
最早事件：{{local .First}}
最晚事件：{{local .Last}}
{{- if .SrcIP}}
来源：    {{hostport .SrcIP .SrcPort}}
{{- end}}
{{- if .DstIP}}
目标：    {{hostport .DstIP .DstPort}}
{{- end}}
{{- if .User}}
用户：    {{.User}}
{{- end}}
{{- if .DeviceID}}
设备：    {{.DeviceID}}
{{- end}}
告警 ID： {{.ID}}
{{- if .Fields}}

字段：
{{- range $k, $v := .Fields}}
  {{$k}}: {{$v}}
{{- end}}
{{- end}}
{{- if .Payloads}}

事件（显示 {{len .Payloads}} 条）：
{{- range .Payloads}}
  {{.}}
{{- end}}
{{- end}}
`
)

// defaultMail returns the default subject and body templates in lang.
func defaultMail(lang string) (subject, body string) {
	if lang == "zh-CN" {
		return DefaultSubjectZH, DefaultBodyZH
	}
	return DefaultSubject, DefaultBody
}

// levelNames are the alert levels in Chinese, as the console shows them.
var levelNames = map[string]map[string]string{
	"zh-CN": {"info": "信息", "low": "低", "medium": "中", "high": "高", "critical": "严重"},
}

// levelName returns the template function "level": an alert level's
// name in lang (the level itself in English or for a level it does not
// know).
func levelName(lang string) func(string) string {
	names := levelNames[lang]
	return func(level string) string {
		if n, ok := names[level]; ok {
			return n
		}
		return level
	}
}

// foldWords folds a header value of RFC 2047 encoded words (as
// mime.QEncoding.Encode returns a long non-ASCII subject) between words,
// so that no line passes SMTP's 998-byte limit: the space between two
// encoded words is not part of the text.
func foldWords(v string) string {
	return strings.ReplaceAll(v, "?= =?", "?=\r\n =?")
}
