package detect

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/geoip/geoiptest"
	"github.com/vigil-soc/vigil/internal/store"
)

func mustRules(t testing.TB, src string) []*Rule {
	t.Helper()
	rs, err := ParseRules("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func ev(seq uint64, at time.Time, kv ...string) *Event {
	e := &Event{Seq: seq, Time: at}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Fields = append(e.Fields, store.Field{Name: kv[i], Value: kv[i+1]})
	}
	return e
}

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown key", "id: a\ntitle: A\ntype: match\nwhen: 'true'\nthreshhold: 3\n", "field threshhold not found"},
		{"bad id", "id: A B\ntitle: A\ntype: match\nwhen: 'true'\n", "id \"A B\""},
		{"unknown type", "id: a\ntitle: A\ntype: count\nwhen: 'true'\n", "type \"count\""},
		{"threshold without window", "id: a\ntitle: A\ntype: threshold\nthreshold: 3\nwhen: 'true'\n", "window is required"},
		{"no condition", "id: a\ntitle: A\ntype: match\n", "match or when is required"},
		{"bad level", "id: a\ntitle: A\ntype: match\nlevel: urgent\nwhen: 'true'\n", "level \"urgent\""},
		{"sequence one step", "id: a\ntitle: A\ntype: sequence\nwindow: 1m\nsteps: [{when: 'true'}]\n", "at least two steps"},
		{"bad template", "id: a\ntitle: A\ntype: match\nwhen: 'true'\nmessage: '{{.Count'\n", "message:"},
		{"cardinality without field", "id: a\ntitle: A\ntype: cardinality\nwindow: 1m\nthreshold: 3\nwhen: 'true'\n", "field (the value"},
		{"spike factor", "id: a\ntitle: A\ntype: spike\nwindow: 1m\nthreshold: 3\nfactor: 1\nwhen: 'true'\n", "factor must be above 1"},
		{"near of a threshold", "id: a\ntitle: A\ntype: threshold\nwindow: 1m\nthreshold: 3\nwhen: 'true'\nnear: 'true'\n", "near applies to new_value rules only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules("x.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ when, want string }{
		{`http.response.status_code == "401"`, "mismatched types"},
		{`source.ip ==`, "unexpected token"},
		{`in_list("x")`, "not enough arguments"},
		{`lower(user.name) == "a" && has("user.name")`, ""},
		{`url.path matches "^/ecp/" && http.response.status_code >= 400`, ""},
		{`country(source.ip) in ["RU", "KP"]`, ""},
	}
	for _, tc := range tests {
		r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: '"+strings.ReplaceAll(tc.when, "'", "''")+"'\n")[0]
		err := Compile(r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v, want %q", tc.when, err, tc.want)
		}
	}
}

// TestFieldAccess checks that dotted names, numbers and missing fields
// read as documented.
func TestFieldAccess(t *testing.T) {
	tests := []struct {
		when string
		want bool
	}{
		{`event.outcome == "failure"`, true},
		{`http.response.status_code == 401`, true},
		{`http.response.status_code >= 400 && http.response.status_code < 500`, true},
		{`source.port == 0`, true}, // missing number
		{`user.name == ""`, true},  // missing string
		{`has("user.name")`, false},
		{`url.path startsWith "/Microsoft-Server-ActiveSync"`, true},
		{`first(host.name, host.hostname) == "proxy1"`, true},
		{`in_cidr(source.ip, "203.0.113.0/24")`, true},
		{`in_cidr(source.ip, "10.0.0.0/8", "bad")`, false},
		{`is_private(source.ip)`, false},
		{`ip_version(source.ip) == 4`, true},
		{`in_list("nosuch", source.ip)`, false},
	}
	e := ev(1, t0, "event.outcome", "failure", "http.response.status_code", "401", "url.path", "/Microsoft-Server-ActiveSync",
		"host.hostname", "proxy1", "source.ip", "203.0.113.9")
	for _, tc := range tests {
		var got []*alert.Alert
		r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: '"+strings.ReplaceAll(tc.when, "'", "''")+"'\n")
		eng, errs := New(r, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tc.when, errs)
		}
		eng.Process(e)
		if (len(got) == 1) != tc.want {
			t.Errorf("%s: fired %v, want %v", tc.when, len(got) == 1, tc.want)
		}
	}
}

// TestEviction: a rule at max_groups evicts the least recently seen group
// and counts it.
func TestEviction(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := mustRules(t, "id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 3\nmax_groups: 2\n")
	var got []*alert.Alert
	eng, _ := New(r, Options{Registerer: reg, Emit: func(a *alert.Alert) { got = append(got, a) }})
	send := func(i int, ip string) {
		eng.Process(ev(uint64(i), t0.Add(time.Duration(i)*time.Second), "event.outcome", "failure", "source.ip", ip))
	}
	send(1, "1.1.1.1")
	send(2, "1.1.1.1")
	send(3, "2.2.2.2")
	send(4, "3.3.3.3") // evicts 1.1.1.1 (least recently seen)
	send(5, "1.1.1.1") // starts again: 1 event
	send(6, "1.1.1.1")
	if len(got) != 0 {
		t.Fatalf("evicted group kept its count: %v", got)
	}
	send(7, "1.1.1.1")
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	if n := testutil.ToFloat64(eng.m.evicted.WithLabelValues("a")); n != 2 {
		t.Errorf("evictions counted %v, want 2", n)
	}
}

// TestReloadKeepsState: an unchanged rule keeps its windows across
// SetRules; a changed one starts empty.
func TestReloadKeepsState(t *testing.T) {
	src := "id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 3\n"
	var got []*alert.Alert
	eng, _ := New(mustRules(t, src), Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	send := func(i int) {
		eng.Process(ev(uint64(i), t0.Add(time.Duration(i)*time.Second), "event.outcome", "failure", "source.ip", "1.1.1.1"))
	}
	send(1)
	send(2)
	eng.SetRules(mustRules(t, src))
	send(3)
	if len(got) != 1 {
		t.Fatalf("unchanged rule lost its state: %d alerts", len(got))
	}
	send(4)
	send(5)
	eng.SetRules(mustRules(t, strings.Replace(src, "threshold: 3", "threshold: 4", 1)))
	send(6)
	send(7)
	if len(got) != 1 {
		t.Fatalf("changed rule kept old state: %d alerts", len(got))
	}
}

// TestSnapshotDropsChangedRules: a restored state applies only to rules
// whose definition is unchanged.
func TestSnapshotDropsChangedRules(t *testing.T) {
	src := "id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\nwindow: 1h\nthreshold: 2\n"
	eng, _ := New(mustRules(t, src), Options{})
	eng.Process(ev(1, t0, "event.outcome", "failure"))
	var b bytes.Buffer
	if err := eng.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	state := b.Bytes()
	same, _ := New(mustRules(t, src), Options{})
	if ids, err := same.Restore(bytes.NewReader(state)); err != nil || len(ids) != 1 {
		t.Fatalf("restore unchanged: %v %v", ids, err)
	}
	changed, _ := New(mustRules(t, strings.Replace(src, "1h", "2h", 1)), Options{})
	if ids, err := changed.Restore(bytes.NewReader(state)); err != nil || len(ids) != 0 {
		t.Fatalf("restore changed: %v %v", ids, err)
	}
	if _, err := changed.Restore(bytes.NewReader([]byte("garbage"))); err == nil {
		t.Fatal("garbage state restored without error")
	}
}

// TestStateCompressed: a state is written compressed (a quarter of the
// plain form or less on many groups of addresses and users), and a plain
// one, as versions before wrote it, still restores.
func TestStateCompressed(t *testing.T) {
	src := "id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 100\n"
	eng, _ := New(mustRules(t, src), Options{})
	for i := range 5000 {
		eng.Process(ev(uint64(i+1), t0.Add(time.Duration(i)*time.Millisecond), "event.outcome", "failure",
			"source.ip", fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256), "user.name", fmt.Sprintf("user%04d", i%700)))
	}
	var packed, plain bytes.Buffer
	if err := eng.Snapshot(&packed); err != nil {
		t.Fatal(err)
	}
	st := eng.state()
	if err := gob.NewEncoder(&plain).Encode(&st); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(packed.Bytes(), zstdMagic) || packed.Len()*4 > plain.Len() {
		t.Fatalf("state %d B (zstd frame: %v), plain %d B: want a zstd frame of at most a quarter", packed.Len(), bytes.HasPrefix(packed.Bytes(), zstdMagic), plain.Len())
	}
	t.Logf("state: %d B compressed, %d B plain", packed.Len(), plain.Len())
	for name, b := range map[string][]byte{"compressed": packed.Bytes(), "plain": plain.Bytes()} {
		got, _ := New(mustRules(t, src), Options{})
		if ids, err := got.Restore(bytes.NewReader(b)); err != nil || len(ids) != 1 {
			t.Fatalf("%s: restore: %v %v", name, ids, err)
		}
		if n, want := len(got.rules[0].groups.m), len(eng.rules[0].groups.m); n != want || n != 5000 {
			t.Fatalf("%s: %d groups restored, want %d (5000)", name, n, want)
		}
	}
	// A damaged compressed state is an error, not a crash or a half state.
	damaged := slices.Clone(packed.Bytes())
	damaged[len(damaged)/2] ^= 0xff
	got, _ := New(mustRules(t, src), Options{})
	if _, err := got.Restore(bytes.NewReader(damaged)); err == nil {
		t.Fatal("damaged state restored without error")
	}
}

func TestMergeOverrides(t *testing.T) {
	builtin := mustRules(t, "id: a\ntitle: Built-in\ntype: match\nwhen: 'true'\n---\nid: b\ntitle: B\ntype: match\nwhen: 'true'\n")
	user := mustRules(t, "id: a\ntitle: Mine\ntype: match\nwhen: 'true'\n")
	got, errs := Merge(builtin, user)
	if len(errs) > 0 || len(got) != 2 || got[0].Title != "Mine" {
		t.Fatalf("merge: %v %v", got, errs)
	}
	if _, errs := Merge(append(user, user...)); len(errs) != 1 {
		t.Fatalf("duplicate id in one set: %v", errs)
	}
}

func TestWithout(t *testing.T) {
	rules := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: 'true'\n---\nid: b\ntitle: B\ntype: match\nwhen: 'true'\n---\nid: c\ntitle: C\ntype: match\nwhen: 'true'\n")
	got := Without(rules, []string{"b", "unknown"})
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
		t.Fatalf("without b: %v", got)
	}
}

// BenchmarkEngine measures events/s through a small mixed rule set on a
// realistic event mix (most events match no rule's pre-filter).
func BenchmarkEngine(b *testing.B) {
	rules := mustRules(b, `
id: brute
title: Brute
type: threshold
match: {event.category: authentication, event.outcome: failure}
group_by: [source.ip]
window: 10m
threshold: 20
suppress: 1h
---
id: spray
title: Spray
type: cardinality
match: {event.category: authentication, event.outcome: failure}
group_by: [source.ip]
field: user.name
window: 30m
threshold: 10
suppress: 1h
---
id: exploit
title: Exploit paths
type: match
match: {event.dataset: nginx.access}
when: 'lower(url.path) contains "/autodiscover/autodiscover.json" && lower(url.query) contains "powershell"'
group_by: [source.ip]
suppress: 1h
`)
	eng, errs := New(rules, Options{})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	evs := make([]*Event, 1024)
	for i := range evs {
		outcome, cat := "success", "web"
		if i%10 == 0 {
			outcome, cat = "failure", "authentication"
		}
		evs[i] = ev(uint64(i), t0, "event.dataset", "nginx.access", "event.category", cat, "event.outcome", outcome,
			"source.ip", fmt.Sprintf("203.0.%d.%d", i%7, i%250), "user.name", fmt.Sprintf("user%d", i%100),
			"url.path", "/owa/", "url.query", "a=b", "http.response.status_code", "200", "user_agent.original", "Mozilla/5.0",
			"host.hostname", "proxy1", "_msg", "GET /owa/ 200")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e := evs[i%len(evs)]
		e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		eng.Process(e)
	}
}

func TestGroupValue(t *testing.T) {
	r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: 'true'\ngroup_by: [exchange.object, user.name, host.name]\n")
	eng, _ := New(r, Options{})
	e := ev(1, t0, "exchange.object", `Mailbox "Import" = Export`, "user.name", "zhangwei")
	kb, ok := eng.groupKey(eng.rules[0], e)
	key := string(kb)
	if !ok {
		t.Fatal("no key")
	}
	for name, want := range map[string]string{"exchange.object": `Mailbox "Import" = Export`, "user.name": "zhangwei", "host.name": "", "nosuch": ""} {
		if got := groupValue(key, name); got != want {
			t.Errorf("groupValue(%q, %s) = %q, want %q", key, name, got, want)
		}
	}
}

func TestNotifyAddresses(t *testing.T) {
	r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: 'true'\nnotify: ['{{.Field \"user.name\"}}@corp.example', 'helpdesk@corp.example', '{{.Field \"user.name\"}}@{{.Field \"user.domain\"}}', '{{.Field \"nosuch\"}}@corp.example']\n")
	var got []*alert.Alert
	eng, _ := New(r, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	eng.Process(ev(1, t0, "user.name", "bob"))
	if len(got) != 1 || strings.Join(got[0].Notify, ",") != "bob@corp.example,helpdesk@corp.example" {
		t.Fatalf("notify %v", got[0].Notify)
	}
}

// TestLetVariables: names declared with let are variables, not fields.
func TestLetVariables(t *testing.T) {
	r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: 'let p = lower(url.path); p startsWith \"/ecp/\" && p endsWith \".js\"'\n")
	var got []*alert.Alert
	eng, errs := New(r, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng.Process(ev(1, t0, "url.path", "/ECP/y.js"))
	eng.Process(ev(2, t0, "url.path", "/owa/"))
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1", len(got))
	}
}

// TestConditionCache: a condition is split into its parts (here a program
// and a test), and a part remembered by its field values gives the same
// answers as evaluating it every time.
func TestConditionCache(t *testing.T) {
	r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: 'lower(user_agent.original) contains \"sqlmap\" && http.response.status_code < 500'\n")
	var got []*alert.Alert
	eng, _ := New(r, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	root := eng.rules[0].when
	if root.op != opAnd || root.parts[0].op != opProg || root.parts[1].op != opTest {
		t.Fatalf("condition not split into a program and a test: %+v", root)
	}
	c := root.parts[0]
	var names []string
	for _, f := range c.fields {
		names = append(names, f.name)
	}
	if !c.cache || strings.Join(names, ",") != "user_agent.original" {
		t.Fatalf("cond fields %v, cache %v", names, c.cache)
	}
	want := 0
	for i := range 3000 {
		ua, status := "Mozilla/5.0", "200"
		if i%3 == 0 {
			ua = "sqlmap/1.7"
		}
		if i%7 == 0 {
			status = "503"
		}
		if i%3 == 0 && i%7 != 0 {
			want++
		}
		eng.Process(ev(uint64(i), t0.Add(time.Duration(i)*time.Millisecond), "user_agent.original", ua, "http.response.status_code", status))
	}
	if len(got) != want || c.hits == 0 {
		t.Fatalf("%d alerts, want %d (cache hits %d)", len(got), want, c.hits)
	}
}

// TestStateKeepsNoEventMemory: the engine's state must not point into the
// event's memory (the parser's buffer of a batch, which it would keep
// alive). The events here take their values from a buffer that is
// overwritten after each event; the state must not change with it.
func TestStateKeepsNoEventMemory(t *testing.T) {
	rules := mustRules(t, `
id: card
title: C
type: cardinality
match: {event.outcome: failure}
group_by: [source.ip]
field: user.name
window: 1h
threshold: 50
---
id: nv
title: N
type: new_value
match: {event.outcome: failure}
group_by: [source.ip]
field: user.name
learn: 1m
`)
	var got []*alert.Alert
	eng, _ := New(rules, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	buf := make([]byte, 64)
	str := func(s string) string {
		n := copy(buf, s)
		return unsafe.String(&buf[0], n)
	}
	ipBuf := make([]byte, 16)
	ip := func(s string) string {
		n := copy(ipBuf, s)
		return unsafe.String(&ipBuf[0], n)
	}
	for i := range 20 {
		user := fmt.Sprintf("user%02d", i%3) // values seen again update their time
		eng.Process(ev(uint64(i), t0.Add(time.Duration(i)*time.Minute), "event.outcome", "failure",
			"source.ip", ip("203.0.113.9"), "user.name", str(user)))
		copy(buf, "XXXXXXXXXXXX")
		copy(ipBuf, "XXXXXXXXXXXXXXXX")
	}
	for _, r := range eng.rules {
		r.groups.each(func(g *group) {
			if strings.Contains(g.Key, "XXX") {
				t.Errorf("%s: group key %q aliases event memory", r.ID, g.Key)
			}
			for v := range g.Vals {
				if !strings.HasPrefix(v, "user") {
					t.Errorf("%s: value %q aliases event memory", r.ID, v)
				}
			}
		})
	}
	for _, a := range got {
		if strings.Contains(a.Fields["value"], "XXX") || strings.Contains(a.SrcIP, "XXX") {
			t.Errorf("alert aliases event memory: %+v", a)
		}
	}
}

// TestCaptureOnlyNearTheCount: a busy group whose events never come close
// to a threshold or a spike in one window keeps no event text (the ring
// keeps sequence numbers); the events that do reach an alert are captured,
// so the alert carries their text without reading the journal.
func TestCaptureOnlyNearTheCount(t *testing.T) {
	tests := []struct {
		name, rule string
		every      time.Duration // the busy hour's pace
	}{
		// 4 a minute: never 6 (10 minus 3 payloads minus 1) in a window.
		{"threshold", "id: a\ntitle: A\ntype: threshold\nmatch: {event.dataset: web}\ngroup_by: [source.ip]\nwindow: 1m\nthreshold: 10\nsuppress: 1h\npayloads: 3\n", 15 * time.Second},
		// 8 a minute: above the threshold's 10 minus 3, far below 5 times
		// the baseline of 8.
		{"spike", "id: a\ntitle: A\ntype: spike\nmatch: {event.dataset: web}\ngroup_by: [source.ip]\nwindow: 1m\nthreshold: 10\nfactor: 5\nbaseline: 5\nlearn: 5m\nsuppress: 1h\npayloads: 3\n", 7500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*alert.Alert
			e, errs := New(mustRules(t, tt.rule), Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			seq := uint64(0)
			send := func(at time.Time) {
				seq++
				x := ev(seq, at, "event.dataset", "web", "source.ip", "192.0.2.1")
				x.Raw = []byte(fmt.Sprintf("line %d", seq))
				e.Process(x)
			}
			// A busy hour that never comes near an alert.
			at := t0
			for at.Before(t0.Add(time.Hour)) {
				at = at.Add(tt.every)
				send(at)
			}
			if e.budget.used != 0 || len(got) != 0 {
				t.Fatalf("after the quiet hour: %d bytes of text held, %d alerts; want none", e.budget.used, len(got))
			}
			// A burst: 60 events within 6 seconds of a new minute.
			at = at.Truncate(time.Minute).Add(time.Minute)
			for range 60 {
				at = at.Add(100 * time.Millisecond)
				send(at)
			}
			if len(got) != 1 {
				t.Fatalf("%d alerts, want 1", len(got))
			}
			a := got[0]
			if len(a.Payloads) != 3 {
				t.Fatalf("alert payloads %q, want the texts of the last 3 events", a.Payloads)
			}
			for i, p := range a.Payloads {
				if !strings.HasPrefix(p, "line ") {
					t.Errorf("payload %d = %q", i, p)
				}
			}
		})
	}
}

// TestCondCacheKeysAreExact: the remembered result of a condition belongs
// to its exact field values; value tuples that run together the same way
// (url.path "a\x00" with user agent "b", "a" with "\x00b") do not share it.
func TestCondCacheKeysAreExact(t *testing.T) {
	rs := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: 'len(url.path) == 2 && len(user_agent.original) == 1'\ngroup_by: [url.path]\n")
	var got []*alert.Alert
	e, errs := New(rs, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e.Process(ev(1, t0, "url.path", "a\x00", "user_agent.original", "b"))
	e.Process(ev(2, t0.Add(time.Second), "url.path", "a", "user_agent.original", "\x00b"))
	if len(got) != 1 || got[0].Group != "url.path=a\x00" {
		var groups []string
		for _, a := range got {
			groups = append(groups, a.Group)
		}
		t.Fatalf("alerts for %q, want one for url.path=a\\x00", groups)
	}
}

// TestFieldAccessors: fields read by a plain name, by a dotted name with
// a numeric value, and by _f("name") for a name expr cannot parse, all
// read the current event (field lookups are remembered per event).
func TestFieldAccessors(t *testing.T) {
	r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: '_f(\"x-y\") == \"1\" && http.response.status_code >= 400 && user.name != \"\"'\n"+
		"---\nid: b\ntitle: B\ntype: match\nmatch: {user.name: bob}\nwhen: 'user.name == \"bob\"'\n")
	var got []string
	eng, errs := New(r, Options{Emit: func(a *alert.Alert) { got = append(got, a.RuleID) }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng.Process(ev(1, t0, "x-y", "1", "http.response.status_code", "401", "user.name", "bob"))
	eng.Process(ev(2, t0, "x-y", "2", "http.response.status_code", "401", "user.name", "ann"))
	// Other layouts: a lookup remembered for an earlier event must not count.
	eng.Process(ev(3, t0, "user.name", "ann", "x-y", "1", "http.response.status_code", "200"))
	eng.Process(ev(4, t0, "http.response.status_code", "500", "user.name", "ann", "x-y", "1"))
	eng.Process(ev(5, t0, "http.response.status_code", "500", "x-y", "1"))
	if strings.Join(got, ",") != "a,b,a" {
		t.Fatalf("alerts %v, want a,b,a", got)
	}
}

// TestSequenceCapturesNearTheCount: a sequence group copies event texts
// only once it has seen nearly the first step's count, so a phone whose
// logons each start with a refused attempt does not copy its user's
// every line; the alert still carries the texts of its last events.
func TestSequenceCapturesNearTheCount(t *testing.T) {
	rule := "id: a\ntitle: A\ntype: sequence\ngroup_by: [user.name]\nwindow: 10m\npayloads: 3\nsuppress: 1h\n" +
		"steps:\n  - {name: failures, match: {event.outcome: failure}, count: 8}\n  - {name: success, match: {event.outcome: success}}\n"
	var got []*alert.Alert
	e, errs := New(mustRules(t, rule), Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	seq := uint64(0)
	send := func(at time.Time, outcome string) {
		seq++
		x := ev(seq, at, "event.outcome", outcome, "user.name", "bob")
		x.Raw = []byte(fmt.Sprintf("line %d", seq))
		e.Process(x)
	}
	at := t0
	for range 60 { // an hour: a refused first attempt every 20 minutes, a logon a minute
		if at.Sub(t0)%(20*time.Minute) == 0 {
			send(at, "failure")
		}
		send(at.Add(time.Second), "success")
		at = at.Add(time.Minute)
	}
	if e.budget.used != 0 || len(got) != 0 {
		t.Fatalf("after the hour: %d bytes of text held, %d alerts; want none", e.budget.used, len(got))
	}
	for range 8 {
		at = at.Add(time.Second)
		send(at, "failure")
	}
	send(at.Add(time.Second), "success")
	if len(got) != 1 || len(got[0].Payloads) != 3 {
		t.Fatalf("%d alerts (payloads %v), want 1 with 3 payloads", len(got), got)
	}
	for i, p := range got[0].Payloads {
		if !strings.HasPrefix(p, "line ") {
			t.Errorf("payload %d = %q", i, p)
		}
	}
}

// TestSpikeLearningCapturesNothing: a spike rule cannot fire while it
// learns its baseline, so it copies no text then, however busy the
// traffic (a front end passes a spike's threshold every minute).
func TestSpikeLearningCapturesNothing(t *testing.T) {
	rule := "id: a\ntitle: A\ntype: spike\nmatch: {event.dataset: web}\ngroup_by: [event.dataset]\nwindow: 1m\nthreshold: 10\nfactor: 5\nbaseline: 5\nlearn: 2h\npayloads: 3\n"
	var got []*alert.Alert
	e, errs := New(mustRules(t, rule), Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i := range 600 { // 10 minutes of 60 a minute
		x := ev(uint64(i+1), t0.Add(time.Duration(i)*time.Second), "event.dataset", "web")
		x.Raw = []byte(fmt.Sprintf("line %d", i))
		e.Process(x)
		if e.budget.used != 0 || len(got) != 0 {
			t.Fatalf("event %d: %d bytes of text held, %d alerts; want none while learning", i, e.budget.used, len(got))
		}
	}
}

// TestAccessorWithNumber: _f and _n called by hand with a number read no
// field (the patcher's ids are not part of the rule language).
func TestAccessorWithNumber(t *testing.T) {
	r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: '_f(9999) == \"\" && _n(-1) == 0 && user.name == \"bob\"'\n")
	var got int
	eng, errs := New(r, Options{Emit: func(*alert.Alert) { got++ }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng.Process(ev(1, t0, "user.name", "bob"))
	if got != 1 {
		t.Fatalf("%d alerts, want 1", got)
	}
}

// TestInsertTime: times stay sorted whatever order they come in (equal
// times after the ones already there), and the index is where t went.
func TestInsertTime(t *testing.T) {
	var ts []int64
	for _, tc := range []struct {
		t    int64
		want []int64
		at   int
	}{
		{5, []int64{5}, 0},
		{7, []int64{5, 7}, 1},
		{7, []int64{5, 7, 7}, 2},
		{6, []int64{5, 6, 7, 7}, 1},
		{1, []int64{1, 5, 6, 7, 7}, 0},
		{5, []int64{1, 5, 5, 6, 7, 7}, 2},
		{9, []int64{1, 5, 5, 6, 7, 7, 9}, 6},
	} {
		var i int
		ts, i = insertTime(ts, tc.t)
		if !slices.Equal(ts, tc.want) || i != tc.at {
			t.Fatalf("insert %d: %v at %d, want %v at %d", tc.t, ts, i, tc.want, tc.at)
		}
	}
}

// TestGeoFunctions: country(), region(), city() and isp() answer from
// the GeoIP databases, empty without them or for what is no address.
func TestGeoFunctions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ip2region.db")
	if err := geoiptest.WriteDB(path, []geoiptest.Segment{
		geoiptest.Seg("58.250.0.0", "58.251.255.255", "中国|0|广东省|深圳市|联通"),
	}); err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		when string
		geo  *geoip.DB
		want bool
	}{
		{`country(source.ip) == "CN" && region(source.ip) == "广东" && city(source.ip) == "深圳" && isp(source.ip) == "联通"`, db, true},
		{`region(destination.ip) == "" && region("not an address") == "" && city("10.0.0.1") == ""`, db, true},
		{`country(source.ip) == "" && region(source.ip) == "" && city(source.ip) == "" && isp(source.ip) == ""`, nil, true},
	}
	e := ev(1, t0, "source.ip", "58.251.30.115", "destination.ip", "10.0.0.5")
	for _, tc := range tests {
		var got []*alert.Alert
		r := mustRules(t, "id: a\ntitle: A\ntype: match\nwhen: '"+tc.when+"'\n")
		eng, errs := New(r, Options{Geo: tc.geo, Emit: func(a *alert.Alert) { got = append(got, a) }})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tc.when, errs)
		}
		eng.Process(e)
		if (len(got) == 1) != tc.want {
			t.Errorf("%s (database %v): %d alerts, want match %v", tc.when, tc.geo != nil, len(got), tc.want)
		}
	}
}

// TestNearCompile: a new_value rule's near condition reads value and
// known and must be a condition.
func TestNearCompile(t *testing.T) {
	tests := []struct{ near, want string }{
		{`any(known, {adjacent(#, value)}) && isp(source.ip) in ["移动"]`, ""},
		{`len(known) > 2 && value != ""`, ""},
		{`value`, "near:"},
		{`any(known, `, "near:"},
	}
	for _, tc := range tests {
		r := mustRules(t, "id: a\ntitle: A\ntype: new_value\nwhen: 'true'\ngroup_by: [user.name]\nfield: source.ip\nnear: '"+tc.near+"'\n")[0]
		err := Compile(r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("near %s: error %v, want %q", tc.near, err, tc.want)
		}
	}
}

// TestNewValueCapturesOnlyNewValues: a new_value rule keeps the text of
// events with a value it does not know only; the alert's other payloads
// come from the PayloadFunc by sequence number.
func TestNewValueCapturesOnlyNewValues(t *testing.T) {
	var got []*alert.Alert
	var asked []uint64
	r := mustRules(t, "id: a\ntitle: A\ntype: new_value\nmatch: {event.outcome: success}\ngroup_by: [user.name]\nfield: source.ip\nlearn: 1h\npayloads: 3\n")
	e, errs := New(r, Options{
		Emit: func(a *alert.Alert) { got = append(got, a) },
		Payloads: func(seqs []uint64) map[uint64]string {
			asked = append(asked, seqs...)
			out := map[uint64]string{}
			for _, s := range seqs {
				out[s] = fmt.Sprintf("line %d", s)
			}
			return out
		},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i := range 100 {
		ip := "192.0.2.1"
		if i == 99 {
			ip = "198.51.100.7" // new after the learning period
		}
		x := ev(uint64(i+1), t0.Add(time.Duration(i)*time.Minute), "event.outcome", "success", "user.name", "zhangwei", "source.ip", ip)
		x.Raw = []byte(fmt.Sprintf("line %d", i+1))
		e.Process(x)
		if i == 98 && e.budget.used != 0 {
			t.Fatalf("before the new value: %d bytes of text held, want none (the first event's left the ring)", e.budget.used)
		}
	}
	if len(got) != 1 || len(got[0].Payloads) != 3 || got[0].Payloads[2] != "line 100" {
		t.Fatalf("alerts %+v", got)
	}
	if !slices.Equal(asked, []uint64{98, 99}) {
		t.Errorf("payloads read by sequence number: %v, want 98, 99", asked)
	}
}
