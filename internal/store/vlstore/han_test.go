package vlstore

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigil-soc/vigil/internal/store"
)

const (
	// The regular expressions of a word edge, as they appear quoted in
	// a rewritten query.
	qStart = `(?:^|[^\\pL\\p{Nd}_]|\\p{Han})`
	qEnd   = `(?:$|[^\\pL\\p{Nd}_]|\\p{Han})`
)

// TestRewriteHan: word, phrase and prefix filters with Han characters
// become substring filters (with a word edge where the text starts or
// ends with a non-Han letter or digit); everything else stays as written.
func TestRewriteHan(t *testing.T) {
	tests := []struct{ in, want string }{
		// Unchanged: no Han, or Han where no word filter is.
		{`*`, `*`},
		{`owa`, `owa`},
		{`user.name:"zhangwei" | stats count()`, `user.name:"zhangwei" | stats count()`},
		{`*张伟*`, `*张伟*`},
		{`*"张伟"*`, `*"张伟"*`},
		{`~"张伟"`, `~"张伟"`},
		{`user.full_name:=张伟`, `user.full_name:=张伟`},
		{`user.full_name:=张伟*`, `user.full_name:=张伟*`},
		{`user.full_name:~"张.伟"`, `user.full_name:~"张.伟"`},
		{`user.full_name:!=张伟`, `user.full_name:!=张伟`},
		{`user.full_name:in(张伟, 李娜)`, `user.full_name:in(张伟, 李娜)`},
		{`i(张伟)`, `i(张伟)`},
		{`seq(张伟, 登录)`, `seq(张伟, 登录)`},
		{`contains_all(张伟)`, `contains_all(张伟)`},
		{`{app="张伟"} owa`, `{app="张伟"} owa`},
		{`city:>北京`, `city:>北京`},
		{`* | stats by (城市) count() 次数`, `* | stats by (城市) count() 次数`},
		{`* | format "<城市>" as 张伟`, `* | format "<城市>" as 张伟`},
		{`张伟abc" x`, `张伟abc" x`}, // the engine refuses it; no rewrite makes it valid

		// Words, phrases, prefixes.
		{`张伟`, `*"张伟"*`},
		{`"张伟"`, `*"张伟"*`},
		{`'张伟'`, `*"张伟"*`},
		{"`张伟`", `*"张伟"*`},
		{`"登录 失败"`, `*"登录 失败"*`},
		{`张伟*`, `*"张伟"*`},
		{`张*`, `*"张"*`},
		{`张伟abc`, `(*"张伟abc"* ~"张伟abc` + qEnd + `")`},
		{`abc张伟`, `(*"abc张伟"* ~"` + qStart + `abc张伟")`},
		{`alice登录失败`, `(*"alice登录失败"* ~"` + qStart + `alice登录失败")`},
		{`abc张*`, `(*"abc张"* ~"` + qStart + `abc张")`},
		{`"a.b 张伟 c"`, `(*"a.b 张伟 c"* ~"` + qStart + `a\\.b 张伟 c` + qEnd + `")`},
		{`张伟-abc.cn`, `(*"张伟-abc.cn"* ~"张伟-abc\\.cn` + qEnd + `")`},
		{`"-张伟-"`, `*"-张伟-"*`},

		// Fields, negation, boolean logic, parentheses.
		{`user.full_name:张伟`, `user.full_name:*"张伟"*`},
		{`user.full_name: 张伟`, `user.full_name: *"张伟"*`},
		{`"user.full_name":张伟`, `"user.full_name":*"张伟"*`},
		{`用户:张伟`, `用户:*"张伟"*`},
		{`_msg:张伟`, `_msg:*"张伟"*`},
		{`*:张伟`, `*:*"张伟"*`},
		{`user.*:张伟`, `user.*:*"张伟"*`},
		{`user.full_name:(张伟 or 李娜)`, `user.full_name:(*"张伟"* or *"李娜"*)`},
		{`user.full_name:-张伟`, `user.full_name:-*"张伟"*`},
		{`user.full_name:张伟:x`, `user.full_name:(*"张伟:x"* ~"张伟:x` + qEnd + `")`},
		{`-张伟`, `-*"张伟"*`},
		{`!张伟`, `!*"张伟"*`},
		{`NOT 张伟`, `NOT *"张伟"*`},
		{`not(张伟)`, `not(*"张伟"*)`},
		{`张伟 or 李娜`, `*"张伟"* or *"李娜"*`},
		{`(张伟 OR 李娜) AND -失败`, `(*"张伟"* OR *"李娜"*) AND -*"失败"*`},
		{`((张伟))`, `((*"张伟"*))`},
		{`登录失败 user.name:alice`, `*"登录失败"* user.name:alice`},
		{`登录失败 user:alice owa`, `*"登录失败"* user:alice owa`},
		{`_time:5m 张伟`, `_time:5m *"张伟"*`},
		{`_time:[2026-01-01, 2026-02-01) 张伟`, `_time:[2026-01-01, 2026-02-01) *"张伟"*`},
		{`options(concurrency=1) 张伟`, `options(concurrency=1) *"张伟"*`},
		{`user.full_name:in(张伟) 登录`, `user.full_name:in(张伟) *"登录"*`},
		{`张伟 # a comment 李娜` + "\n" + `登录`, `*"张伟"* # a comment 李娜` + "\n" + `*"登录"*`},

		// Pipes.
		{`张伟 | stats count() n`, `*"张伟"* | stats count() n`},
		{`* | filter 张伟 | limit 5`, `* | filter *"张伟"* | limit 5`},
		{`* | where user.full_name:张伟`, `* | where user.full_name:*"张伟"*`},
		{`* | user.full_name:张伟`, `* | user.full_name:*"张伟"*`},
		{`* | "张伟"`, `* | *"张伟"*`},
		{`* | -张伟`, `* | -*"张伟"*`},
		{`* | stats count() if (张伟) n, count() total`, `* | stats count() if (*"张伟"*) n, count() total`},
		{`* | stats by (user.name) count() if (登录失败 or 密码错误) n`,
			`* | stats by (user.name) count() if (*"登录失败"* or *"密码错误"*) n`},
		{`user.name:in(* | filter 张伟 | fields user.name) 登录`, `user.name:in(* | filter 张伟 | fields user.name) *"登录"*`},
	}
	for _, tt := range tests {
		got := rewriteHan(tt.in)
		if got != tt.want {
			t.Errorf("rewriteHan(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		if _, err := logstorage.ParseQuery(tt.in); err != nil {
			continue
		}
		if _, err := logstorage.ParseQuery(got); err != nil {
			t.Errorf("rewriteHan(%s) = %s, which the engine refuses: %v", tt.in, got, err)
		}
		if again := rewriteHan(got); again != got {
			t.Errorf("rewriteHan(%s) is not stable: %s, then %s", tt.in, got, again)
		}
	}
}

// TestHanSearch: on a real store, a Han word finds exactly the events
// that contain it, wherever it stands in a run of Chinese text, and the
// other filters keep their meaning.
func TestHanSearch(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	st := open(t, t.TempDir(), now)
	defer st.Close()
	events := []struct {
		msg, name, user string
	}{
		1:  {"用户张伟登录失败，原因：密码错误", "张伟", "zhangwei"},
		2:  {"用户张伟明登录成功", "张伟明", "zhangweiming"},
		3:  {"user zhangwei login failed", "", "zhangwei"},
		4:  {"用户张伟abc登录", "", ""},
		5:  {"用户张伟abcd登录", "", ""},
		6:  {"张伟 abc", "", ""},
		7:  {"用户李娜登录失败", "李娜", "lina"},
		8:  {"登录 失败", "", ""},
		9:  {"alice登录失败", "", "alice"},
		10: {"xalice登录失败", "", "alice"},
		11: {"邮件投递成功：收件人 wangfang@corp.cn 主题：关于2026年预算的通知", "王芳", "wangfang"},
		12: {"IMAP login user=lina@corp.cn result=fail reason=\"密码错误\" city=深圳", "李娜", "lina"},
	}
	var rows []store.Row
	for i, e := range events {
		if e.msg == "" {
			continue
		}
		fields := []store.Field{{Name: "_msg", Value: e.msg}, {Name: "vigil.input", Value: "syslog"},
			{Name: "vigil.seq", Value: strconv.Itoa(i)}}
		if e.name != "" {
			fields = append(fields, store.Field{Name: "user.full_name", Value: e.name})
		}
		if e.user != "" {
			fields = append(fields, store.Field{Name: "user.name", Value: e.user})
		}
		rows = append(rows, store.Row{Time: now.Add(time.Duration(i-100) * time.Second), Fields: fields})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()

	all := func(except ...int) []int {
		var out []int
		for i, e := range events {
			if e.msg != "" && !slices.Contains(except, i) {
				out = append(out, i)
			}
		}
		return out
	}
	tests := []struct {
		q    string
		want []int // vigil.seq of the events found
	}{
		{`张伟`, []int{1, 2, 4, 5, 6}},
		{`"张伟"`, []int{1, 2, 4, 5, 6}},
		{`张伟明`, []int{2}},
		{`张伟*`, []int{1, 2, 4, 5, 6}},
		{`伟`, []int{1, 2, 4, 5, 6}},
		{`登录失败`, []int{1, 7, 9, 10}},
		{`"登录 失败"`, []int{8}},
		{`密码错误`, []int{1, 12}},
		{`张伟abc`, []int{4}},
		{`alice登录`, []int{9}},
		{`alice`, []int{}}, // a Latin word keeps the engine's words: "alice登录失败" is one
		{`zhangwei`, []int{3}},
		{`login`, []int{3, 12}},
		{`-张伟`, all(1, 2, 4, 5, 6)},
		{`NOT 张伟`, all(1, 2, 4, 5, 6)},
		{`张伟 or 李娜`, []int{1, 2, 4, 5, 6, 7}},
		{`(张伟 or 李娜) -成功`, []int{1, 4, 5, 6, 7}},
		{`登录失败 user.name:alice`, []int{9, 10}},
		{`user.full_name:张伟`, []int{1, 2}},
		{`user.full_name:=张伟`, []int{1}},
		{`user.full_name:(张伟 or 李娜)`, []int{1, 2, 7, 12}},
		{`user.full_name:-张伟 user.full_name:*`, []int{7, 11, 12}},
		{`*:张伟`, []int{1, 2, 4, 5, 6}},
		{`*:王芳`, []int{11}},
		{`预算 wangfang`, []int{11}},
		{`"city=深圳"`, []int{12}},
		{`深圳`, []int{12}},
		{`* | filter 张伟 -成功`, []int{1, 4, 5, 6}},
		{`不存在`, []int{}},
	}
	for _, tt := range tests {
		var got []int
		for _, r := range search(t, st, store.Query{Text: tt.q, Order: store.Oldest}) {
			n, _ := strconv.Atoi(r.Get("vigil.seq"))
			got = append(got, n)
		}
		if !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
			t.Errorf("%s: found %v, want %v", tt.q, got, tt.want)
		}
	}

	rs := search(t, st, store.Query{Text: `张伟 | stats count() n`})
	if len(rs) != 1 || rs[0].Get("n") != "5" {
		t.Errorf("张伟 | stats count() n: %v, want n=5", rs)
	}
}

// FuzzRewriteHan: a query the engine accepts stays one it accepts once
// rewritten, rewriting it again changes nothing, and a query without Han
// characters is never changed.
func FuzzRewriteHan(f *testing.F) {
	for _, s := range []string{`张伟`, `"登录 失败" user:alice`, `user.full_name:(张伟 or -李娜)`, `张伟abc*`,
		`* | filter 张伟 | stats count() if (登录) n`, `_time:[2026-01-01, 2026-02-01) NOT 张伟`, `*张伟*`,
		`i(张伟) in(李娜) seq(a, 张)`, `{app="张伟"} x:>张 y:=李*`, `'张\'伟' x`, "张伟 # 李\n娜", `a-张伟.b:c`,
		`* | 张伟:x`, `options(concurrency=1) 张伟`, `(张伟`, `张伟)`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := rewriteHan(q)
		if !hasHan(q) && got != q {
			t.Fatalf("rewriteHan(%q) = %q: changed a query without Han characters", q, got)
		}
		if again := rewriteHan(got); again != got {
			t.Fatalf("rewriteHan(%q) = %q, then %q", q, got, again)
		}
		if _, err := logstorage.ParseQuery(q); err != nil {
			return
		}
		if _, err := logstorage.ParseQuery(got); err != nil {
			t.Fatalf("rewriteHan(%q) = %q, which the engine refuses: %v", q, got, err)
		}
	})
}
