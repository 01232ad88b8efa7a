package lists

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fixedNow() time.Time { return testNow }

// FuzzParseList feeds arbitrary bytes to both file formats. Whatever
// parses must hold valid entries that its index finds, and must survive
// a MarshalList/ParseFile round trip unchanged.
func FuzzParseList(f *testing.F) {
	for _, dir := range []string{"set", "bad"} {
		des, _ := os.ReadDir(filepath.Join("testdata", dir))
		for _, de := range des {
			if data, err := os.ReadFile(filepath.Join("testdata", dir, de.Name())); err == nil {
				f.Add(data, filepath.Ext(de.Name()) != ".txt")
			}
		}
	}
	f.Add([]byte("# kind: device\nalice ApplX # n\n"), false)
	f.Add([]byte("entries: [\"::ffff:1.2.3.0/120\", {value: a, expires: 9999-12-31}]"), true)
	f.Fuzz(func(t *testing.T, data []byte, yamlForm bool) {
		file := "f.txt"
		if yamlForm {
			file = "f.yaml"
		}
		l, err := ParseFile(file, data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			return
		}
		if !ValidName(l.Name) {
			t.Fatalf("invalid name %q", l.Name)
		}
		if _, err := parseKind(string(l.Kind)); err != nil {
			t.Fatal(err)
		}
		if _, err := parseRole(string(l.Role)); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range l.Entries {
			ne, err := normEntry(l.Kind, e)
			if err != nil || ne != e {
				t.Fatalf("entry %+v not normalized: %+v, %v", e, ne, err)
			}
			k := entryKey(l.Kind, e)
			if seen[k] {
				t.Fatalf("duplicate key %q", k)
			}
			seen[k] = true
		}
		// Every entry that has not expired is found.
		set := &Set{now: fixedNow}
		x := newList(l, file)
		for _, e := range l.Entries {
			if !e.Expires.IsZero() && !fixedNow().Before(e.Expires) {
				continue
			}
			var ok bool
			switch l.Kind {
			case KindIP:
				p, _ := parseIP(e.Value)
				ok = x.hasIP(p.Addr(), set)
			case KindUser:
				ok = x.hasUser(e.Value, set)
			case KindDevice:
				ok = x.hasDevice(e.User, e.Device, set) != nil
			}
			if !ok {
				t.Fatalf("entry %+v not found in its list", e)
			}
		}
		// Round trip through the YAML form.
		out, err := MarshalList(l)
		if err != nil {
			t.Fatalf("MarshalList: %v", err)
		}
		l2, err := ParseFile("f.yaml", out)
		if err != nil {
			t.Fatalf("written list does not parse: %v\n%s", err, out)
		}
		if l2.Name != l.Name || l2.Kind != l.Kind || l2.Role != l.Role || l2.Description != l.Description ||
			len(l2.Rules) != len(l.Rules) || !entriesEqual(l.Entries, l2.Entries) {
			t.Fatalf("round trip changed the list:\n%+v\n%+v\n%s", l, l2, out)
		}
		for i := range l.Rules {
			if l.Rules[i] != l2.Rules[i] {
				t.Fatalf("rules %q != %q", l.Rules, l2.Rules)
			}
		}
	})
}
