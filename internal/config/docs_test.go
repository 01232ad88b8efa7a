package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docKey is one key documented in a table of docs/configuration.md.
type docKey struct {
	path string // e.g. inputs.syslog[].tls.addr
	def  string // the first `value` of the default column, "" if none
	line int
}

var (
	docSection = regexp.MustCompile("^## (?:`([a-z_.]+)`|Top level)")
	docCode    = regexp.MustCompile("`([^`]*)`")
)

// docKeys reads the keys of the tables in docs/configuration.md. A table
// under "## `inputs.syslog`: ..." names keys relative to that list's
// entries; the other tables name whole keys.
func docKeys(t *testing.T) []docKey {
	t.Helper()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []docKey
	section, inSection := "", false
	for i, line := range strings.Split(string(b), "\n") {
		if m := docSection.FindStringSubmatch(line); m != nil {
			section, inSection = m[1], true
			continue
		}
		if strings.HasPrefix(line, "## ") {
			inSection = false
			continue
		}
		if !inSection || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		def := ""
		if m := docCode.FindStringSubmatch(cells[2]); m != nil {
			def = m[1]
		}
		for _, m := range docCode.FindAllStringSubmatch(cells[1], -1) {
			k := m[1]
			switch {
			case section == "" || k == section || strings.HasPrefix(k, section+"."):
			case strings.HasPrefix(section, "inputs."):
				k = section + "[]." + k
			default:
				k = section + "." + k
			}
			keys = append(keys, docKey{path: k, def: def, line: i + 1})
		}
	}
	if len(keys) < 50 {
		t.Fatalf("found only %d keys in docs/configuration.md: has its layout changed?", len(keys))
	}
	return keys
}

// leafKeys lists the key paths of type t below p, "[]" standing for a
// list's entries; sizes, durations, maps and lists of values are leaves.
func leafKeys(t reflect.Type, p string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType || t == byteSizeType:
		return []string{p}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return leafKeys(t.Elem(), p+"[]")
	case t.Kind() != reflect.Struct:
		return []string{p}
	}
	fields, names := structFields(t)
	var out []string
	for _, n := range names {
		out = append(out, leafKeys(fields[n], keyPath(p, n))...)
	}
	return out
}

// valueAt returns the value of the key path in cfg, the first entry of a
// list standing for "[]", and whether it exists.
func valueAt(cfg reflect.Value, path string) (reflect.Value, bool) {
	v := cfg
	for _, part := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(part, "[]")
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v = reflect.Zero(v.Type().Elem())
				break
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return v, false
		}
		f, ok := fieldByKey(v, name)
		if !ok {
			return v, false
		}
		v = f
		if list {
			if v.Kind() != reflect.Slice {
				return v, false
			}
			if v.Len() == 0 {
				v = reflect.Zero(v.Type().Elem())
			} else {
				v = v.Index(0)
			}
		}
	}
	return v, true
}

// fieldByKey returns the field of struct value v whose YAML key is key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(","+opts+",", ",inline,") {
			if r, ok := fieldByKey(v.Field(i), key); ok {
				return r, true
			}
			continue
		}
		if f.IsExported() && name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// docEmptyMeans are documented defaults that say what an empty value
// means.
var docEmptyMeans = map[string]bool{"Local": true, "auto": true, "utf-8": true}

// TestDocumentedKeys: every key in docs/configuration.md's tables exists,
// with the default the table gives, and every key of the configuration is
// documented there (the outputs and alert channels have their own pages
// and examples).
func TestDocumentedKeys(t *testing.T) {
	defaults, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, k := range docKeys(t) {
		documented[k.path] = true
		v, ok := valueAt(reflect.ValueOf(defaults), k.path)
		if !ok {
			t.Errorf("docs/configuration.md:%d: %s is not a configuration key", k.line, k.path)
			continue
		}
		if k.def == "" || strings.HasPrefix(k.path, "inputs.kafka") || strings.Contains(k.def, "<") {
			continue // no default, Kafka's are applied by the input, or one computed at start
		}
		want := reflect.New(v.Type())
		if err := yaml.Unmarshal([]byte(k.def), want.Interface()); err != nil {
			t.Errorf("docs/configuration.md:%d: %s: default %q does not read as a value of the key: %v", k.line, k.path, k.def, err)
			continue
		}
		if !sameDefault(v, want.Elem()) {
			t.Errorf("docs/configuration.md:%d: %s: documented default %s, but it is %v", k.line, k.path, k.def, describeValue(v))
		}
	}
	for _, p := range leafKeys(reflect.TypeFor[Config](), "") {
		if strings.HasPrefix(p, "outputs.") || strings.HasPrefix(p, "alerts.") {
			continue
		}
		covered := false
		for q := p; q != "" && !covered; q = strings.TrimSuffix(parentPath(q), "[]") {
			covered = documented[q]
		}
		if !covered {
			t.Errorf("%s is not documented in docs/configuration.md", p)
		}
	}
}

// sameDefault compares a default with a documented one: a nil *bool is
// true, empty lists and maps are alike, and so are "" and what it means.
func sameDefault(got, doc reflect.Value) bool {
	if got.Kind() == reflect.String && got.String() == "" && docEmptyMeans[doc.String()] {
		return true
	}
	if got.Kind() == reflect.Pointer && got.Type().Elem().Kind() == reflect.Bool {
		g, d := got.IsNil() || got.Elem().Bool(), !doc.IsNil() && doc.Elem().Bool()
		return g == d
	}
	if k := got.Kind(); (k == reflect.Slice || k == reflect.Map) && got.Len() == 0 && doc.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(got.Interface(), doc.Interface())
}

func describeValue(v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "unset"
		}
		return v.Elem().Interface()
	}
	return v.Interface()
}

// TestExampleIsDefaults: deploy/vigil.yaml ("every key at its default")
// names every key and gives each its default, but data_dir.
// aliases are older names of keys, still accepted and documented but left
// out of deploy/vigil.yaml, which shows the current names.
var aliases = map[string]string{
	"console.timezone": "display.timezone",
}

func TestExampleIsDefaults(t *testing.T) {
	defaults, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	example, err := Load("../../deploy/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range leafKeys(reflect.TypeFor[Config](), "") {
		if _, ok := aliases[p]; ok || p == "data_dir" {
			continue
		}
		got, ok1 := valueAt(reflect.ValueOf(example), p)
		want, ok2 := valueAt(reflect.ValueOf(defaults), p)
		if !ok1 || !ok2 {
			t.Errorf("%s: no such key", p)
			continue
		}
		if !sameDefault(want, got) {
			t.Errorf("deploy/vigil.yaml: %s is %v, its default is %v", p, describeValue(got), describeValue(want))
		}
		if list, _, _ := strings.Cut(p, "[]"); list != p {
			if v, _ := valueAt(reflect.ValueOf(example), list); v.Len() == 0 {
				continue // an empty list: its entries' keys are in docs/
			}
		}
		if _, ok := example.src.lines[strings.ReplaceAll(p, "[]", "[0]")]; !ok {
			t.Errorf("deploy/vigil.yaml does not name %s", p)
		}
	}
}

// TestDocExamples: the configuration examples in the documentation use
// keys that exist, with values of the right kind.
func TestDocExamples(t *testing.T) {
	n := 0
	for _, file := range []string{"docs/configuration.md", "docs/outputs.md", "README.md", "deploy/kcat/README.md"} {
		b, err := os.ReadFile("../../" + file)
		if err != nil {
			t.Fatal(err)
		}
		blocks := strings.Split(string(b), "```yaml\n")
		for i, block := range blocks[1:] {
			text, _, _ := strings.Cut(block, "```")
			c := Default()
			if err := c.decode(file, []byte(text)); err != nil {
				t.Errorf("%s, YAML example %d:\n%s\n%v", file, i+1, text, err)
			}
			n++
		}
	}
	if n < 6 {
		t.Errorf("found only %d examples", n)
	}
}
