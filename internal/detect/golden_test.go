package detect

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden/pack.jsonl")

// TestPackGolden runs the whole built-in pack over fixed inputs and
// compares every alert, in full (id, times, group, count, fields,
// message, a digest of the payloads), with testdata/golden/pack.jsonl: the input of every
// detection case (with its lists and options, the GeoIP test database
// always loaded so that the geo rules run), and a mix of 40k proxy, IIS,
// IMAP and Windows lines with brute force bursts, run with and without a
// snapshot and restore half-way. The golden file was written by the
// engine before its per-event work was made cheaper: an optimisation
// that changes any alert fails here. Rewrite it (-update-golden) only
// for an intended change of what rules raise.
func TestPackGolden(t *testing.T) {
	db, err := geoip.OpenSources(geoip.Source{Path: geoTestDB()})
	if err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatalf("GeoIP test database missing (run scripts/fetch-geoip-testdb.sh): %v", err)
		}
		t.Skipf("GeoIP test database missing (run scripts/fetch-geoip-testdb.sh): %v", err)
	}
	defer db.Close()
	pack := packRules(t)
	var got bytes.Buffer
	record := func(name string, alerts []*alert.Alert) {
		for _, a := range alerts {
			// The payloads (original lines, long) are kept as a digest.
			c := *a
			c.Payloads = nil
			if len(a.Payloads) > 0 {
				sum := sha256.Sum256([]byte(strings.Join(a.Payloads, "\n")))
				c.Payloads = []string{fmt.Sprintf("%d lines, sha256 %x", len(a.Payloads), sum[:12])}
			}
			b, err := json.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			got.WriteString(name)
			got.WriteByte('\t')
			got.Write(b)
			got.WriteByte('\n')
		}
	}
	dirs, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		var opts caseOptions
		if b, err := os.ReadFile(filepath.Join(dir, "case.yaml")); err == nil {
			if err := yaml.Unmarshal(b, &opts); err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
		}
		if opts.Received.IsZero() {
			opts.Received = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		}
		var ls Lists
		if _, err := os.Stat(filepath.Join(dir, "lists")); err == nil {
			if ls, err = loadLists(filepath.Join(dir, "lists")); err != nil {
				t.Fatalf("%s: lists: %v", dir, err)
			}
		}
		input, err := os.ReadFile(filepath.Join(dir, "input.log"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := caseRecords(input, opts.Received)
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Lateness: opts.Lateness, Lists: ls, Geo: db}
		record(filepath.Base(dir), runPack(t, pack, o, recs, db, -1))
	}
	lines := mixedLines(40_000, 3)
	recs := Records("bench", lines, 1, time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC))
	ls, err := loadLists("testdata/golden/lists")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Lists: ls, Geo: db}
	record("mixed", runPack(t, pack, o, recs, db, -1))
	record("mixed-restored", runPack(t, pack, o, recs, db, len(recs)/2))

	const file = "testdata/golden/pack.jsonl"
	if *updateGolden {
		if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got.Bytes(), want) {
		return
	}
	gl, wl := splitLines(got.Bytes()), splitLines(want)
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%d alerts, golden %d; first difference at line %d:\ngot:  %s\nwant: %s", len(gl), len(wl), i+1, g, w)
		}
	}
}

// runPack runs rules over recs (parsed as the server does) and returns
// the alerts; at restartAt the state goes through Snapshot and Restore
// into a fresh engine.
func runPack(t *testing.T, rules []*Rule, o Options, recs []journal.Record, db *geoip.DB, restartAt int) []*alert.Alert {
	t.Helper()
	off := NewOffline(parse.New(parse.Options{Geo: db}), recs)
	var got []*alert.Alert
	o.Payloads = off.Payloads
	o.Emit = func(a *alert.Alert) { got = append(got, a) }
	e, errs := New(rules, o)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i, ev := range off.Events() {
		if i == restartAt {
			e = restarted(t, e, rules, o)
		}
		e.Process(ev)
	}
	return got
}

func splitLines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, strings.Clone(sc.Text()))
	}
	return out
}

// restarted returns a new engine of rules with e's state, as after a
// restart: through Snapshot and Restore.
func restarted(t *testing.T, e *Engine, rules []*Rule, o Options) *Engine {
	t.Helper()
	var state bytes.Buffer
	if err := e.Snapshot(&state); err != nil {
		t.Fatal(err)
	}
	e, _ = New(rules, o)
	if _, err := e.Restore(&state); err != nil {
		t.Fatal(err)
	}
	return e
}
