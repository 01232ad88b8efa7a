package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"
	"unsafe"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// caseOptions is a case's optional case.yaml.
type caseOptions struct {
	// Rules lists built-in rule files (under ../../rules) to load besides
	// the case's own rules.yaml.
	Rules    []string      `yaml:"rules"`
	Lateness time.Duration `yaml:"lateness"`
	// Geo needs the GeoIP test database (scripts/fetch-geoip-testdb.sh);
	// IP2Region the ip2region one (scripts/fetch-ip2region-testdb.sh),
	// consulted first when both are set.
	Geo       bool `yaml:"geo"`
	IP2Region bool `yaml:"ip2region"`
	// Received is the time year-less syslog dates are read near; default
	// 2026-11-28T12:00:00Z. Each line is received at its own event time
	// unless a "// received: <RFC 3339 time>" line in input.log sets the
	// receive time of the lines after it ("// received: event" goes back
	// to their own time).
	Received time.Time `yaml:"received"`
}

// geoTestDB is where scripts/fetch-geoip-testdb.sh puts the test database.
func geoTestDB() string {
	if p := os.Getenv("VIGIL_GEOIP_TESTDB"); p != "" {
		return p
	}
	return "/var/cache/vigil-test/geo-whois-asn-country.mmdb"
}

// ip2regionTestDB is where scripts/fetch-ip2region-testdb.sh puts the
// ip2region test database.
func ip2regionTestDB() string {
	if p := os.Getenv("VIGIL_IP2REGION_TESTDB"); p != "" {
		return p
	}
	return "/var/cache/vigil-test/ip2region.db"
}

// TestCases runs every folder under testdata/cases: the rules in
// rules.yaml (and the built-in files case.yaml names) over the log lines in
// input.log (lines starting with // are comments), parsed as the server
// parses them, compared with want.jsonl:
// one expected alert per line, in order, naming only the fields that
// matter (an empty want.jsonl means no alert). Each case also runs a
// second time with the engine's state saved and restored into a fresh
// engine half-way through: the alerts must be identical.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { runCase(t, dir) })
	}
}

func runCase(t *testing.T, dir string) {
	var opts caseOptions
	if b, err := os.ReadFile(filepath.Join(dir, "case.yaml")); err == nil {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&opts); err != nil {
			t.Fatalf("case.yaml: %v", err)
		}
	}
	if opts.Received.IsZero() {
		opts.Received = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	}
	var rules []*Rule
	for _, f := range opts.Rules {
		rs, err := loadRuleFile(filepath.Join("..", "..", "rules", f))
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rs...)
	}
	if rs, err := loadRuleFile(filepath.Join(dir, "rules.yaml")); err == nil {
		rules = append(rules, rs...)
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("no rules: want rules.yaml or case.yaml rules")
	}
	var ls Lists
	if _, err := os.Stat(filepath.Join(dir, "lists")); err == nil {
		if ls, err = loadLists(filepath.Join(dir, "lists")); err != nil {
			t.Fatalf("lists: %v", err)
		}
	}
	var geo *geoip.DB
	var srcs []geoip.Source
	if opts.IP2Region {
		srcs = append(srcs, geoip.Source{Path: ip2regionTestDB()})
	}
	if opts.Geo {
		srcs = append(srcs, geoip.Source{Path: geoTestDB()})
	}
	if len(srcs) > 0 {
		db, err := geoip.OpenSources(srcs...)
		if err != nil {
			if os.Getenv("VIGIL_TEST_STRICT") != "" {
				t.Fatalf("GeoIP test database missing (run scripts/fetch-geoip-testdb.sh, scripts/fetch-ip2region-testdb.sh): %v", err)
			}
			t.Skipf("GeoIP test database missing (run scripts/fetch-geoip-testdb.sh, scripts/fetch-ip2region-testdb.sh): %v", err)
		}
		geo = db
		defer db.Close()
	}
	input, err := os.ReadFile(filepath.Join(dir, "input.log"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := caseRecords(input, opts.Received)
	if err != nil {
		t.Fatal(err)
	}
	off := NewOffline(parse.New(parse.Options{Geo: geo}), recs)
	for _, ev := range off.Events() {
		if e := ev.Get(parse.FieldParseError); e != "" {
			t.Fatalf("input line seq %d does not parse: %s", ev.Seq, e)
		}
	}
	run := func(restartAt int, lang string) []*alert.Alert {
		var got []*alert.Alert
		eopts := Options{Lateness: opts.Lateness, Lists: ls, Geo: geo, Payloads: off.Payloads, Language: lang,
			Emit: func(a *alert.Alert) { got = append(got, a) }}
		e, errs := New(rules, eopts)
		if len(errs) > 0 {
			t.Fatalf("rules: %v", errs)
		}
		for i, ev := range off.Events() {
			if i == restartAt {
				e = restarted(t, e, rules, eopts)
			}
			// The event's text lives in memory that is overwritten after
			// the call, as the indexer reuses its parse buffers: an alert
			// or a rule's state that kept a reference would show the Xs.
			mem, scratch := scratchEvent(ev)
			e.Process(scratch)
			for i := range mem {
				mem[i] = 'X'
			}
		}
		return got
	}
	got := run(-1, "")
	compareAlerts(t, filepath.Join(dir, "want.jsonl"), got)
	compareTranslated(t, rules, got, run(-1, "zh-CN"))
	if n := len(off.Events()); n > 1 {
		again := run(n/2, "")
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Errorf("restart half-way changed the alerts:\nuninterrupted: %s\nrestarted:     %s", a, b)
		}
	}
}

// compareTranslated checks the alerts of a case run in Chinese against
// the English run's: the same alerts, with the title and message of the
// rule's translation where it has one, rendered without error, naming the
// same addresses, users and devices as the English message.
func compareTranslated(t *testing.T, rules []*Rule, en, zh []*alert.Alert) {
	t.Helper()
	if len(en) != len(zh) {
		t.Fatalf("in zh-CN: %d alerts, in English %d", len(zh), len(en))
	}
	byID := map[string]*Rule{}
	for _, r := range rules {
		byID[r.ID] = r
	}
	for i := range en {
		e, z := *en[i], *zh[i]
		r := byID[e.RuleID]
		tr, ok := r.Translations["zh-CN"]
		wantTitle := e.RuleTitle
		if ok {
			wantTitle = tr.Title
		}
		if z.RuleTitle != wantTitle {
			t.Errorf("alert %d in zh-CN: rule.name %q, want %q", i+1, z.RuleTitle, wantTitle)
		}
		for _, bad := range []string{"<no value>", "消息模板出错", "message template failed", "%!"} {
			if strings.Contains(z.Message, bad) {
				t.Errorf("alert %d in zh-CN: message %q has %q", i+1, z.Message, bad)
			}
		}
		if ok && tr.Message != "" && !hasHan(z.Message) {
			t.Errorf("alert %d in zh-CN: message %q is not Chinese", i+1, z.Message)
		}
		for _, v := range []string{e.SrcIP, e.User, e.DeviceID} {
			if v != "" && strings.Contains(e.Message, v) && !strings.Contains(z.Message, v) {
				t.Errorf("alert %d in zh-CN: message %q lacks %q (the English one has it: %q)", i+1, z.Message, v, e.Message)
			}
		}
		e.RuleTitle, e.Message, z.RuleTitle, z.Message = "", "", "", ""
		a, _ := json.Marshal(&e)
		b, _ := json.Marshal(&z)
		if !bytes.Equal(a, b) {
			t.Errorf("alert %d differs in zh-CN beyond its texts:\nen: %s\nzh: %s", i+1, a, b)
		}
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

// caseRecords turns input.log into journal records: lines starting with
// "//" are comments, "// received: <time>" sets the receive time of the
// lines after it; before that, or after "// received: event", each line is
// received at its own event time (read with the receive time near), as a
// sender in step delivers it.
func caseRecords(input []byte, near time.Time) ([]journal.Record, error) {
	var recs []journal.Record
	var at []time.Time // each record's receive time; zero: its event time
	var recv time.Time
	for _, l := range bytes.Split(bytes.TrimRight(input, "\n"), []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("// received:")); ok {
			v = bytes.TrimSpace(v)
			recv = time.Time{}
			if string(v) != "event" {
				t, err := time.Parse(time.RFC3339Nano, string(v))
				if err != nil {
					return nil, fmt.Errorf("input.log: %q: %w", l, err)
				}
				recv = t
			}
			continue
		}
		if len(l) > 0 && !bytes.HasPrefix(l, []byte("//")) {
			recs = append(recs, journal.Record{Seq: uint64(len(recs) + 1), Time: near, Input: "test", Data: l})
			at = append(at, recv)
		}
	}
	p := parse.New(parse.Options{})
	for i := range recs {
		recs[i].Time = at[i]
		if at[i].IsZero() {
			var row store.Row
			rec := recs[i]
			rec.Time = near
			p.Parse(&rec, &row)
			recs[i].Time = row.Time
		}
	}
	return recs, nil
}

// scratchEvent returns a copy of ev whose field names, values and raw text
// all live in the returned buffer.
func scratchEvent(ev *Event) ([]byte, *Event) {
	n := len(ev.Raw)
	for _, f := range ev.Fields {
		n += len(f.Name) + len(f.Value)
	}
	mem := make([]byte, 0, n)
	str := func(s string) string {
		if s == "" {
			return ""
		}
		start := len(mem)
		mem = append(mem, s...)
		return unsafe.String(&mem[start], len(s))
	}
	c := *ev
	c.Fields = make([]store.Field, len(ev.Fields))
	for i, f := range ev.Fields {
		c.Fields[i] = store.Field{Name: str(f.Name), Value: str(f.Value)}
	}
	if len(ev.Raw) > 0 {
		start := len(mem)
		mem = append(mem, ev.Raw...)
		c.Raw = mem[start:len(mem):len(mem)]
	}
	return mem, &c
}

func loadRuleFile(path string) ([]*Rule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRules(path, b)
}

// compareAlerts checks got against the partial alerts in the want file.
func compareAlerts(t *testing.T, wantFile string, got []*alert.Alert) {
	t.Helper()
	f, err := os.Open(wantFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		var w map[string]any
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			t.Fatalf("%s: %q: %v", wantFile, line, err)
		}
		want = append(want, w)
	}
	var gotMaps []map[string]any
	for _, a := range got {
		b, _ := json.Marshal(a)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		gotMaps = append(gotMaps, m)
	}
	if len(gotMaps) != len(want) {
		t.Errorf("got %d alerts, want %d:\n%s", len(gotMaps), len(want), dump(gotMaps))
		return
	}
	for i, w := range want {
		if diff := partialDiff(w, gotMaps[i]); diff != "" {
			t.Errorf("alert %d: %s\ngot: %s", i+1, diff, dump(gotMaps[i:i+1]))
		}
	}
}

func partialDiff(want, got map[string]any) string {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		w, g := want[k], got[k]
		if wm, ok := w.(map[string]any); ok {
			gm, _ := g.(map[string]any)
			if d := partialDiff(wm, gm); d != "" {
				out = append(out, k+": "+d)
			}
			continue
		}
		if wl, ok := w.([]any); ok {
			// A list in want: every listed string must occur in some
			// element, every listed object match one.
			gl, _ := g.([]any)
			for _, x := range wl {
				found := false
				for _, y := range gl {
					if s, ok := y.(string); ok && strings.Contains(s, fmt.Sprint(x)) {
						found = true
					}
					xm, xok := x.(map[string]any)
					ym, yok := y.(map[string]any)
					if xok && yok && partialDiff(xm, ym) == "" {
						found = true // an object: its listed members match
					}
				}
				if !found {
					out = append(out, fmt.Sprintf("%s: no element contains %q", k, x))
				}
			}
			continue
		}
		if w == "" && g == nil {
			continue // an empty field is left out of the JSON
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			out = append(out, fmt.Sprintf("%s = %v, want %v", k, g, w))
		}
	}
	return strings.Join(out, "; ")
}

func dump(ms []map[string]any) string {
	var b strings.Builder
	for _, m := range ms {
		delete(m, alert.FieldPayloads)
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}
