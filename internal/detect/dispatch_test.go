package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestDispatch checks that the rules the dispatch picks for an event are
// exactly, and in order, the rules whose match passes: for the built-in
// pack and for random rules over few values, "" among them, and a field
// with more values than the index keeps.
func TestDispatch(t *testing.T) {
	fields := []string{"event.dataset", "event.category", "event.outcome", "network.protocol", "big"}
	pool := []string{"", "a", "b", "c", "nginx.access", "authentication", "failure", "success"}
	r := rand.New(rand.NewPCG(1, 2))
	var src strings.Builder
	for i := range 40 {
		fmt.Fprintf(&src, "---\nid: r%d\ntitle: R\ntype: match\nwhen: 'true'\nmatch:\n", i)
		for _, f := range fields[:4] {
			if r.IntN(2) == 0 {
				continue
			}
			var vs []string
			for range 1 + r.IntN(3) {
				vs = append(vs, fmt.Sprintf("%q", pool[r.IntN(len(pool))]))
			}
			fmt.Fprintf(&src, "  %s: [%s]\n", f, strings.Join(vs, ", "))
		}
		if i%10 == 0 { // a field with too many values to index
			var vs []string
			for k := range 300 {
				vs = append(vs, fmt.Sprintf("v%d", k))
			}
			fmt.Fprintf(&src, "  big: [%s]\n", strings.Join(vs, ", "))
		}
	}
	for _, tc := range []struct {
		name  string
		rules []*Rule
	}{
		{"pack", packRules(t)},
		{"random", mustRules(t, src.String())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng, errs := New(tc.rules, Options{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			names := append(slices.Clone(fields), "event.action", "event.code")
			vals := append(slices.Clone(pool), "windows.security", "iam", "4625", "v7", "v299", "owa", "activesync")
			for n := range 20000 {
				var kv []string
				for _, f := range names {
					if v := vals[r.IntN(len(vals))]; r.IntN(8) != 0 {
						kv = append(kv, f, v)
					}
				}
				e := ev(uint64(n), t0, kv...)
				var want []string
				for _, c := range eng.rules {
					if matches(c.match, e) {
						want = append(want, c.ID)
					}
				}
				var got []string
				for _, c := range eng.disp.rules(e) {
					if c.indexed || matches(c.match, e) {
						got = append(got, c.ID)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("event %v: rules %v, want %v", kv, got, want)
				}
			}
		})
	}
}
