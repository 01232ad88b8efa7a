package rules_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/rules"
)

// TestPack loads the embedded pack as the server does and checks each
// rule: it compiles, its id names its file, it is documented, and at least
// one data-driven case under internal/detect/testdata/cases runs it.
func TestPack(t *testing.T) {
	rs, errs := detect.LoadRules(rules.FS, ".")
	for _, err := range errs {
		t.Error(err)
	}
	if len(rs) == 0 {
		t.Fatal("no built-in rules")
	}
	if _, errs := detect.Merge(rs); len(errs) > 0 {
		t.Errorf("duplicate ids: %v", errs)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "rule-pack.md"))
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := filepath.Glob(filepath.Join("..", "internal", "detect", "testdata", "cases", "builtin-*", "case.yaml"))
	for _, r := range rs {
		t.Run(r.ID, func(t *testing.T) {
			if err := detect.Compile(r); err != nil {
				t.Errorf("compile: %v", err)
			}
			if want := r.ID + ".yaml"; r.File != want {
				t.Errorf("rule %s is in %s, want %s", r.ID, r.File, want)
			}
			if r.Description == "" || r.Message == "" {
				t.Errorf("description and message are required in the built-in pack")
			}
			// Every text exists in every language: the rule's own in
			// English, a complete translation into the others (the
			// loader checks completeness; internal/detect's TestCases
			// renders the messages of each case in Chinese).
			for _, s := range []string{r.Title, r.Description, r.Message} {
				if hasHan(s) {
					t.Errorf("the rule's own texts are English; Chinese goes to translations: %q", s)
				}
			}
			for _, lang := range locale.Languages[1:] {
				tr, ok := r.Translations[lang]
				if !ok {
					t.Errorf("no %s translation", lang)
					continue
				}
				if lang == "zh-CN" && !(hasHan(tr.Title) && hasHan(tr.Description) && hasHan(tr.Message)) {
					t.Errorf("the zh-CN translation is not in Chinese: %+v", tr)
				}
			}
			if !strings.Contains(string(doc), "## "+r.ID) && !strings.Contains(string(doc), "`"+r.ID+"`") {
				t.Errorf("docs/rule-pack.md does not describe %s", r.ID)
			}
			n := 0
			for _, c := range cases {
				b, err := os.ReadFile(c)
				if err == nil && strings.Contains(string(b), r.File) {
					n++
				}
			}
			if n < 2 {
				t.Errorf("%d cases load %s, want a positive and a negative one at least", n, r.File)
			}
		})
	}
}

// hasHan reports whether s has a Chinese character.
func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// TestFilesAreRules makes sure nothing but rule files is embedded.
func TestFilesAreRules(t *testing.T) {
	err := fs.WalkDir(rules.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) != ".yaml" {
			t.Errorf("unexpected embedded file %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
