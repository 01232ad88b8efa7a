// Package locale translates the console's text, and the labels of chat
// alerts (internal/notify): English and Simplified Chinese.
//
// Catalogs are flat JSON objects (key -> text) in catalog/, one pair of
// files per slice of the console: <slice>.en.json and <slice>.zh-CN.json,
// with keys prefixed by the slice ("alerts.status.new"). They are embedded
// and merged at start. Load fails (and so does the package test) when a
// key is defined twice, when a key is missing or empty in a language, or
// when the two texts of a key have different fmt verbs.
//
// Texts are fmt format strings: T("search.found", n) with
// "search.found": "%d events found" / "找到 %d 条事件". Use explicit
// argument indexes (%[2]s ... %[1]d) when a language needs another order.
// There are no plural forms: write texts that read well for any count
// ("events: %d").
package locale

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Languages the console speaks; the first is the default.
var Languages = []string{"en", "zh-CN"}

//go:embed catalog/*.json
var catalogFS embed.FS

// Catalog holds every language's texts.
type Catalog struct {
	msgs map[string]map[string]string // lang -> key -> text
}

// Load reads the embedded catalogs.
func Load() (*Catalog, error) {
	return LoadFS(catalogFS, "catalog")
}

// Check reports every problem of the embedded catalogs.
func Check() error {
	_, err := Load()
	return err
}

// LoadFS reads the catalogs in dir of fsys.
func LoadFS(fsys fs.FS, dir string) (*Catalog, error) {
	c := &Catalog{msgs: map[string]map[string]string{}}
	for _, l := range Languages {
		c.msgs[l] = map[string]string{}
	}
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("locale: %w", err)
	}
	var errs []error
	where := map[string]string{} // lang+key -> file
	for _, f := range files {
		base := path.Base(f)
		name := strings.TrimSuffix(base, ".json")
		dot := strings.IndexByte(name, '.')
		lang := name[dot+1:]
		if dot < 0 || c.msgs[lang] == nil {
			errs = append(errs, fmt.Errorf("locale: %s: name it <slice>.<lang>.json with lang one of %v", base, Languages))
			continue
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("locale: %w", err)
		}
		keys, err := decodeFlat(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("locale: %s: %w", base, err))
			continue
		}
		for _, kv := range keys {
			if prev, dup := where[lang+"\x00"+kv[0]]; dup {
				errs = append(errs, fmt.Errorf("locale: %s: key %q is also defined in %s", base, kv[0], prev))
				continue
			}
			where[lang+"\x00"+kv[0]] = base
			c.msgs[lang][kv[0]] = kv[1]
		}
	}
	errs = append(errs, c.check()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// decodeFlat decodes a JSON object of strings, refusing a key given twice
// in the same object (encoding/json would keep the last silently).
func decodeFlat(b []byte) ([][2]string, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("want a JSON object of strings")
	}
	var out [][2]string
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("key %q: want a string: %w", k, err)
		}
		if seen[k] {
			return nil, fmt.Errorf("key %q is defined twice", k)
		}
		seen[k] = true
		out = append(out, [2]string{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

var verbRE = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

// verbs returns the fmt verbs of s with their argument numbers, sorted.
func verbs(s string) []string {
	var out []string
	n := 0
	for _, v := range verbRE.FindAllStringSubmatch(s, -1) {
		if strings.HasSuffix(v[0], "%%") || v[0] == "%%" {
			continue
		}
		if v[1] != "" {
			n, _ = strconv.Atoi(strings.Trim(v[1], "[]"))
		} else {
			n++
		}
		out = append(out, strconv.Itoa(n)+v[0][len(v[0])-1:])
	}
	sort.Strings(out)
	return out
}

func (c *Catalog) check() []error {
	var errs []error
	all := map[string]bool{}
	for _, m := range c.msgs {
		for k := range m {
			all[k] = true
		}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var first []string
		for i, l := range Languages {
			s, ok := c.msgs[l][k]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("locale: key %q is missing in %s", k, l))
				continue
			case strings.TrimSpace(s) == "":
				errs = append(errs, fmt.Errorf("locale: key %q is empty in %s", k, l))
				continue
			}
			if i == 0 {
				first = verbs(s)
			} else if v := verbs(s); !slices.Equal(v, first) {
				errs = append(errs, fmt.Errorf("locale: key %q: %s has verbs %v, %s has %v", k, l, v, Languages[0], first))
			}
		}
	}
	return errs
}

// Has reports whether key is in the catalogs.
func (c *Catalog) Has(key string) bool {
	_, ok := c.msgs[Languages[0]][key]
	return ok
}

// Keys returns every key, sorted.
func (c *Catalog) Keys() []string {
	var out []string
	for k := range c.msgs[Languages[0]] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Printer translates into one language.
type Printer struct {
	lang string
	msgs map[string]string
}

// Printer returns the printer of lang (a name from Languages; anything
// else gets the default language).
func (c *Catalog) Printer(lang string) *Printer {
	m, ok := c.msgs[lang]
	if !ok {
		lang = Languages[0]
		m = c.msgs[lang]
	}
	return &Printer{lang: lang, msgs: m}
}

// Lang returns the printer's language.
func (p *Printer) Lang() string { return p.lang }

// T returns the text of key, formatted with args (fmt verbs) when there
// are any. An unknown key is returned as it is, so that it shows.
func (p *Printer) T(key string, args ...any) string {
	s, ok := p.msgs[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Supported returns the language of Languages named by s ("en", "zh-CN",
// also "zh", "zh-Hans", "zh-cn", ...), or "" when s is none of them.
func Supported(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return ""
	case s == "en" || strings.HasPrefix(s, "en-"):
		return "en"
	case s == "zh" || s == "zh-cn" || s == "zh-sg" || strings.HasPrefix(s, "zh-hans"):
		return "zh-CN"
	}
	return ""
}

// Match picks the language of an Accept-Language header: the supported
// language with the highest weight, or "" when none is.
func Match(accept string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(accept, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if l := Supported(tag); l != "" && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}
