package locale

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestCatalogs: the embedded catalogs load: no duplicate key, no key
// missing or empty in a language, the same fmt verbs in both.
func TestCatalogs(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	c, _ := Load()
	if got := c.Printer("zh-CN").T("common.ago.past", "5 分钟"); got != "5 分钟前" {
		t.Errorf("zh-CN common.ago.past: %q", got)
	}
	if got := c.Printer("fr").T("shell.nav.alerts"); got != "Alerts" {
		t.Errorf("an unknown language falls back to English: %q", got)
	}
	if got := c.Printer("en").T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
}

func TestCatalogProblems(t *testing.T) {
	for name, c := range map[string]struct {
		files map[string]string
		want  string
	}{
		"missing": {map[string]string{"a.en.json": `{"a.x": "X", "a.y": "Y"}`, "a.zh-CN.json": `{"a.x": "叉"}`},
			`key "a.y" is missing in zh-CN`},
		"empty": {map[string]string{"a.en.json": `{"a.x": "X"}`, "a.zh-CN.json": `{"a.x": " "}`},
			`key "a.x" is empty in zh-CN`},
		"duplicate across files": {map[string]string{"a.en.json": `{"a.x": "X"}`, "a.zh-CN.json": `{"a.x": "叉"}`,
			"b.en.json": `{"a.x": "X"}`, "b.zh-CN.json": `{"b.y": "叉"}`}, `key "a.x" is also defined in a.en.json`},
		"duplicate in a file": {map[string]string{"a.en.json": `{"a.x": "X", "a.x": "Y"}`, "a.zh-CN.json": `{"a.x": "叉"}`},
			`key "a.x" is defined twice`},
		"verbs": {map[string]string{"a.en.json": `{"a.x": "%d events in %s"}`, "a.zh-CN.json": `{"a.x": "%s 中有 %d 条"}`},
			`has verbs`},
		"bad name":    {map[string]string{"a.fr.json": `{}`}, `name it <slice>.<lang>.json`},
		"not strings": {map[string]string{"a.en.json": `{"a.x": 1}`, "a.zh-CN.json": `{}`}, `want a string`},
	} {
		fsys := fstest.MapFS{}
		for n, s := range c.files {
			fsys["cat/"+n] = &fstest.MapFile{Data: []byte(s)}
		}
		_, err := LoadFS(fsys, "cat")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// Explicit argument indexes let a language reorder.
	fsys := fstest.MapFS{"cat/a.en.json": {Data: []byte(`{"a.x": "%d events in %s"}`)},
		"cat/a.zh-CN.json": {Data: []byte(`{"a.x": "%[2]s 中有 %[1]d 条事件"}`)}}
	c, err := LoadFS(fsys, "cat")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Printer("zh-CN").T("a.x", 3, "1h"); got != "1h 中有 3 条事件" {
		t.Errorf("reordered: %q", got)
	}
}

func TestMatch(t *testing.T) {
	for accept, want := range map[string]string{
		"":                           "",
		"zh":                         "zh-CN",
		"zh-CN,zh;q=0.9,en;q=0.8":    "zh-CN",
		"zh-Hans-CN":                 "zh-CN",
		"zh-TW":                      "",
		"en-US,en;q=0.9,zh-CN;q=0.8": "en",
		"fr-FR, zh;q=0.7, en;q=0.3":  "zh-CN",
		"de":                         "",
		"en;q=bogus, zh-cn":          "zh-CN",
	} {
		if got := Match(accept); got != want {
			t.Errorf("Match(%q) = %q, want %q", accept, got, want)
		}
	}
}
