package detect

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse"
)

// TestSplitConditionsAgree: every condition of the built-in pack and of
// the detection cases, split into parts, answers what the whole
// expression answers, on the cases' inputs and a mail service's mixed
// traffic.
func TestSplitConditionsAgree(t *testing.T) {
	rules := packRules(t)
	dirs, _ := filepath.Glob(filepath.Join("testdata", "cases", "*"))
	var lines [][]byte
	for _, d := range dirs {
		if rs, err := loadRuleFile(filepath.Join(d, "rules.yaml")); err == nil {
			rules = append(rules, rs...)
		}
		b, err := os.ReadFile(filepath.Join(d, "input.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) > 0 {
				lines = append(lines, l)
			}
		}
	}
	lines = append(lines, mixedLines(5000, 3)...)
	evs := NewOffline(parse.New(parse.Options{}), Records("syslog", lines, 1, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))).Events()

	eng, errs := New(rules, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	type check struct {
		text  string
		whole *cond
		split *cond
	}
	var checks []check
	seen := map[string]bool{}
	split := 0
	add := func(src string) {
		if src == "" || seen[src] {
			return
		}
		seen[src] = true
		c, err := eng.env.condition(src)
		if err != nil {
			t.Fatal(err)
		}
		prog, _, err := eng.env.compileFields(src, true)
		if err != nil {
			t.Fatal(err)
		}
		whole := &cond{op: opProg, prog: prog} // run by Engine.run: no memo, no cache
		if c.op >= opAnd {
			split++
		}
		checks = append(checks, check{src, whole, c})
	}
	for _, r := range rules {
		add(r.When)
		for _, s := range r.Steps {
			add(s.When)
		}
	}
	if split < 8 {
		t.Fatalf("only %d of %d conditions split into parts", split, len(checks))
	}
	trues := 0
	for _, ev := range evs {
		eng.look.next(len(eng.env.names.names))
		ev.look, eng.env.ev = &eng.look, ev
		eng.memo = make([]int8, eng.env.ncond)
		for _, c := range checks {
			want, _ := eng.run(eng.rules[0], c.whole)
			if got := eng.eval(eng.rules[0], c.split); got != want {
				t.Fatalf("event %d (%s): split condition says %v, whole %v: %s", ev.Seq, ev.Raw, got, want, c.text)
			}
			if want {
				trues++
			}
		}
		ev.look, eng.env.ev = nil, nil
	}
	if trues == 0 {
		t.Fatal("no condition was true for any event")
	}
	t.Logf("%d conditions (%d split) agree on %d events (%d true)", len(checks), split, len(evs), trues)
}

// TestCondCacheSets: keys of one set (same index bits) keep their results
// side by side, the least recently used of two is dropped for a third,
// and conditions sharing the table keep their own results per key.
func TestCondCacheSets(t *testing.T) {
	tab := &condCache{}
	a := &cond{cache: true, results: tab, slot: 0}
	b := &cond{cache: true, results: tab, slot: 1}
	const k1, k2, k3 = 5 << 20, 6 << 20, 7<<20 | 1 // one set
	steps := []struct {
		c      *cond
		op     string // "put" or "get"
		key    uint64
		v, hit bool
	}{
		{a, "put", k1, true, false},
		{a, "put", k2, false, false},
		{a, "get", k1, true, true},  // both kept; k1 now the most recent
		{a, "get", k2, false, true}, // and k2
		{b, "get", k2, false, false},
		{b, "put", k2, true, false}, // b's result beside a's
		{a, "get", k2, false, true},
		{b, "get", k2, true, true},
		{a, "put", k3, true, false}, // drops k1, the least recently used
		{a, "get", k1, false, false},
		{a, "get", k2, false, true},
		{a, "get", k3, true, true},
	}
	for i, s := range steps {
		if s.op == "put" {
			s.c.remember(s.key, s.v)
			continue
		}
		v, ok := s.c.cached(s.key)
		if ok != s.hit || ok && v != s.v {
			t.Fatalf("step %d: cached(%#x) = %v, %v; want %v, %v", i, s.key, v, ok, s.v, s.hit)
		}
	}
}
