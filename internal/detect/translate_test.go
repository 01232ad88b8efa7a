package detect

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/locale"
)

// translated is a threshold rule with a Chinese translation.
const translated = `id: a
title: Failed logins
description: Many failed logins from one address.
type: threshold
match: {event.outcome: failure}
group_by: [source.ip]
window: 10m
threshold: 2
suppress: 1h
message: '{{.Count}} failed logins from {{.Field "source.ip"}} within {{.Window}}'
translations:
  zh-CN:
    title: 登录失败过多
    description: 同一地址多次登录失败。
    message: '{{.Field "source.ip"}} 在 {{.Window}}内登录失败 {{.Count}} 次'
`

// TestTranslationValidation: a translation names a known language and
// translates every text the rule has, and its message parses.
func TestTranslationValidation(t *testing.T) {
	tests := []struct{ name, old, new, want string }{
		{"unknown language", "  zh-CN:", "  fr:", `translations: fr: unknown language: want one of en, zh-CN`},
		{"language spelt otherwise", "  zh-CN:", "  zh-cn:", `translations: zh-cn: write the language as zh-CN`},
		{"empty title", "    title: 登录失败过多", "    title: ''", "translations: zh-CN: title is missing or empty"},
		{"blank title", "    title: 登录失败过多", "    title: ' '", "translations: zh-CN: title is missing or empty"},
		{"no description", "    description: 同一地址多次登录失败。\n", "", "translations: zh-CN: description is missing or empty"},
		{"no message", `    message: '{{.Field "source.ip"}} 在 {{.Window}}内登录失败 {{.Count}} 次'`, "", "translations: zh-CN: message is missing or empty"},
		{"bad template", `{{.Count}} 次'`, `{{.Count 次'`, "translations: zh-CN: message: template:"},
		{"unknown key", "    title: 登录失败过多", "    title: 登录失败过多\n    titel: x", "field titel not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(translated, tc.old, tc.new, 1)
			if src == translated {
				t.Fatalf("%q is not in the rule", tc.old)
			}
			_, err := ParseRules("x.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	// A rule without a description or message needs none in its
	// translations, and may carry one; English may be a translation too
	// (of a rule written in Chinese).
	ok := "id: b\ntitle: 标题\ntype: match\nwhen: 'true'\ntranslations:\n  en: {title: Title, description: What it means}\n  zh-CN: {title: 标题}\n"
	rs, err := ParseRules("x.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].In("en"); got.Title != "Title" || got.Description != "What it means" {
		t.Errorf("In(en) = %+v", got)
	}
	if got := rs[0].In("fr"); got.Title != "标题" {
		t.Errorf("In(fr) = %+v, want the rule's own texts", got)
	}
}

// TestAlertLanguage: the engine raises alerts with the rule's title and
// message in its language, the follow-up's words too; a rule without a
// translation keeps its own texts, the engine's words around them
// included, and so does an engine in a language the rule has no
// translation for.
func TestAlertLanguage(t *testing.T) {
	plain := "---\nid: b\ntitle: Plain\ntype: match\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\n"
	tests := []struct {
		lang                 string
		title, msg, follow   string
		plainTitle, plainMsg string
	}{
		{"zh-CN", "登录失败过多", "203.0.113.7 在 10 分钟内登录失败 2 次", "203.0.113.7 在 10 分钟内登录失败 2 次（后续告警：上次告警后又有 2 个事件）",
			"Plain", "Plain: 1 events for source.ip=203.0.113.7"},
		{"en", "Failed logins", "2 failed logins from 203.0.113.7 within 10m", "2 failed logins from 203.0.113.7 within 10m (follow-up: 2 more events since the previous alert)",
			"Plain", "Plain: 1 events for source.ip=203.0.113.7"},
		{"", "Failed logins", "2 failed logins from 203.0.113.7 within 10m", "2 failed logins from 203.0.113.7 within 10m (follow-up: 2 more events since the previous alert)",
			"Plain", "Plain: 1 events for source.ip=203.0.113.7"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			var got []*alert.Alert
			eng, errs := New(mustRules(t, translated+plain), Options{Language: tc.lang, Emit: func(a *alert.Alert) { got = append(got, a) }})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			for i := range 4 {
				eng.Process(ev(uint64(i+1), t0.Add(time.Duration(i)*time.Second), "event.outcome", "failure", "source.ip", "203.0.113.7"))
			}
			eng.Process(ev(10, t0.Add(2*time.Hour), "event.outcome", "success")) // ends the suppression
			var a, b []*alert.Alert
			for _, x := range got {
				if x.RuleID == "a" {
					a = append(a, x)
				} else {
					b = append(b, x)
				}
			}
			if len(a) != 2 || len(b) < 1 {
				t.Fatalf("alerts of a: %d, of b: %d; want 2 and at least 1", len(a), len(b))
			}
			if a[0].RuleTitle != tc.title || a[0].Message != tc.msg {
				t.Errorf("alert: %q %q, want %q %q", a[0].RuleTitle, a[0].Message, tc.title, tc.msg)
			}
			if !a[1].FollowUp || a[1].RuleTitle != tc.title || a[1].Message != tc.follow {
				t.Errorf("follow-up: %v %q %q, want %q %q", a[1].FollowUp, a[1].RuleTitle, a[1].Message, tc.title, tc.follow)
			}
			if b[0].RuleTitle != tc.plainTitle || b[0].Message != tc.plainMsg {
				t.Errorf("untranslated rule: %q %q, want %q %q", b[0].RuleTitle, b[0].Message, tc.plainTitle, tc.plainMsg)
			}
		})
	}
}

// TestTranslationKeepsState: adding or changing a translation is not a
// change of the rule's definition: its state (windows, learned values)
// survives a reload and a restart.
func TestTranslationKeepsState(t *testing.T) {
	bare := mustRules(t, translated[:strings.Index(translated, "translations:")])[0]
	full := mustRules(t, translated)[0]
	if bare.hash != full.hash {
		t.Fatalf("a translation changed the rule's hash: %s, %s", bare.hash, full.hash)
	}
	if changed := mustRules(t, strings.Replace(translated, "threshold: 2", "threshold: 3", 1))[0]; changed.hash == full.hash {
		t.Fatal("a changed threshold kept the hash")
	}
	eng, _ := New([]*Rule{bare}, Options{})
	eng.Process(ev(1, t0, "event.outcome", "failure", "source.ip", "203.0.113.7"))
	var state bytes.Buffer
	if err := eng.Snapshot(&state); err != nil {
		t.Fatal(err)
	}
	var got []*alert.Alert
	again, _ := New([]*Rule{full}, Options{Language: "zh-CN", Emit: func(a *alert.Alert) { got = append(got, a) }})
	if ids, err := again.Restore(&state); err != nil || len(ids) != 1 {
		t.Fatalf("restore: %v %v", ids, err)
	}
	again.Process(ev(2, t0.Add(time.Second), "event.outcome", "failure", "source.ip", "203.0.113.7"))
	if len(got) != 1 || got[0].RuleTitle != "登录失败过多" {
		t.Fatalf("alerts after the restore: %+v", got)
	}
}

// TestEngineWords: the engine has its words in every language of the
// console and alert texts.
func TestEngineWords(t *testing.T) {
	for _, l := range locale.Languages {
		w, ok := engineWords[l]
		if !ok || w.followUp == "" || w.templateFailed == "" || w.defaultMessage == "" {
			t.Errorf("engine words in %s: %+v", l, w)
		}
	}
}

func TestWindowText(t *testing.T) {
	for _, tc := range []struct {
		d        time.Duration
		en, zhCN string
	}{
		{10 * time.Minute, "10m", "10 分钟"},
		{6 * time.Hour, "6h", "6 小时"},
		{90 * time.Minute, "1h30m", "1 小时 30 分钟"},
		{90 * time.Second, "1m30s", "1 分钟 30 秒"},
		{500 * time.Millisecond, "500ms", "500 毫秒"},
	} {
		r := &Rule{Window: config.Duration(tc.d)}
		if got := (&msgData{Rule: r, lang: "en"}).Window(); got != tc.en {
			t.Errorf("%v in en: %q, want %q", tc.d, got, tc.en)
		}
		if got := (&msgData{Rule: r, lang: "zh-CN"}).Window(); got != tc.zhCN {
			t.Errorf("%v in zh-CN: %q, want %q", tc.d, got, tc.zhCN)
		}
	}
}
