package vlstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/benchenv"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/store"
)

// TestFieldCost measures what each stored field costs the store: it parses
// the first VIGIL_FIELDCOST_LINES lines (default 300000) of the log file
// VIGIL_FIELDCOST_INPUT (e.g. vigil-loadgen -gen output) as the syslog input
// would, then stores them into a fresh store once per variant (all fields,
// then without one field or group), VIGIL_FIELDCOST_ROUNDS times
// (default 2), variants alternating within a round. CPU is the process's
// user+system time from Open to Close (two writers, as the indexer has);
// disk is the store directory after Close. VIGIL_FIELDCOST_ONLY keeps only
// the variants whose names contain it (and "all fields"). Skipped without
// the variable.
//
//	VIGIL_FIELDCOST_INPUT=/tmp/input.log go test -count=1 -v -run TestFieldCost ./internal/store/vlstore/
func TestFieldCost(t *testing.T) {
	path := os.Getenv("VIGIL_FIELDCOST_INPUT")
	if path == "" {
		t.Skip("VIGIL_FIELDCOST_INPUT is not set")
	}
	lines := benchenv.Int(t, "VIGIL_FIELDCOST_LINES", 300000)
	rounds := benchenv.Int(t, "VIGIL_FIELDCOST_ROUNDS", 2)
	rows := parseFile(t, path, lines)

	variants := []struct {
		name string
		drop []string
	}{
		{"all fields", nil},
		{"-log.syslog.priority", []string{parse.FieldPriority}},
		{"-log.syslog.facility.name", []string{parse.FieldFacility}},
		{"-log.syslog.severity.name", []string{parse.FieldSeverity}},
		{"-priority,facility,severity", []string{parse.FieldPriority, parse.FieldFacility, parse.FieldSeverity}},
		{"-log.syslog.format", []string{parse.FieldFormat}},
		{"-vigil.received", []string{parse.FieldReceived}},
		{"-user.original", []string{"user.original"}},
		{"-log.source.address", []string{parse.FieldPeer}},
		{"-vigil.seq", []string{parse.FieldSeq}},
		{"_msg empty", []string{"_msg="}},
		{"-the 5 constant/derivable", []string{parse.FieldPriority, parse.FieldFacility, parse.FieldSeverity, parse.FieldFormat, "user.original"}},
		// Everything constant per sender and connection: what moving such
		// fields out of the rows (into the stream, rewriting searches on
		// them) could save at most.
		{"-the 11 constant per sender", []string{parse.FieldPriority, parse.FieldFacility, parse.FieldSeverity, parse.FieldFormat,
			parse.FieldPeer, parse.FieldReceived, "host.hostname", "host.ip", "log.syslog.appname", "vigil.input", "event.dataset"}},
	}
	if only := os.Getenv("VIGIL_FIELDCOST_ONLY"); only != "" {
		var keep = variants[:0]
		for _, v := range variants {
			if v.name == "all fields" || strings.Contains(v.name, only) {
				keep = append(keep, v)
			}
		}
		variants = keep
	}
	type result struct{ cpu, disk float64 }
	res := make([][]result, len(variants))
	storeRows(t, rows[:min(len(rows), 50000)]) // warm up the engine and the heap
	for r := 0; r < rounds; r++ {
		for i, v := range variants {
			cpu, disk := storeRows(t, without(rows, v.drop))
			res[i] = append(res[i], result{cpu, disk})
			t.Logf("round %d %-30s %6.2f µs/row %6.1f B/row", r+1, v.name, cpu, disk)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| variant | fields/row | CPU µs/row (rounds) | B/row on disk |\n|---|--:|---|--:|\n")
	for i, v := range variants {
		var cpus []string
		for _, x := range res[i] {
			cpus = append(cpus, fmt.Sprintf("%.2f", x.cpu))
		}
		sub := without(rows[:1000], v.drop)
		n := 0
		for _, r := range sub {
			n += len(r.Fields)
		}
		fmt.Fprintf(&sb, "| %s | %.1f | %s | %.1f |\n", v.name, float64(n)/1000, strings.Join(cpus, ", "), res[i][len(res[i])-1].disk)
	}
	t.Log(sb.String())
}

// parseFile parses the first n lines of path as records of the syslog
// input received now from one TCP peer.
func parseFile(t *testing.T, path string, n int) []store.Row {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := parse.New(parse.Options{Location: time.UTC, OriginEventIDs: true, Users: &format.Users{}})
	now := time.Now()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var rows []store.Row
	for sc.Scan() && len(rows) < n {
		rec := journal.Record{Seq: uint64(len(rows) + 1), Time: now, Input: "syslog", Peer: "127.0.0.1:40000", Data: bytes.Clone(sc.Bytes())}
		var row store.Row
		p.Parse(&rec, &row)
		for i, fl := range row.Fields { // out of the parser's arena
			row.Fields[i] = store.Field{Name: strings.Clone(fl.Name), Value: strings.Clone(fl.Value)}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// without returns rows without the named fields; "NAME=" empties a field
// instead.
func without(rows []store.Row, drop []string) []store.Row {
	if len(drop) == 0 {
		return rows
	}
	out := make([]store.Row, len(rows))
	for i, r := range rows {
		fields := make([]store.Field, 0, len(r.Fields))
	next:
		for _, f := range r.Fields {
			for _, d := range drop {
				if d == f.Name {
					continue next
				}
				if d == f.Name+"=" {
					f.Value = ""
				}
			}
			fields = append(fields, f)
		}
		out[i] = store.Row{Time: r.Time, Fields: fields}
	}
	return out
}

// storeRows stores rows into a fresh store with two writers and returns
// the CPU µs and disk bytes per row, the store's close included.
func storeRows(t *testing.T, rows []store.Row) (cpuUS, diskB float64) {
	cpuUS, diskB, _ = storeRowsIn(t, t.TempDir(), rows, false)
	return cpuUS, diskB
}

// storeRowsIn is storeRows into dir, with or without the rows' shapes,
// and returns the store reopened.
func storeRowsIn(t *testing.T, dir string, rows []store.Row, noShape bool) (cpuUS, diskB float64, reopened *Store) {
	cfg := Config{Path: dir, Retention: 30 * 24 * time.Hour, noShape: noShape,
		StreamFields: []string{parse.FieldInput, parse.FieldHostname, parse.FieldAppName}}
	c0 := benchenv.CPUTime()
	st, err := Open(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 4096
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Go(func() {
			for i := w * batch; i < len(rows); i += 2 * batch {
				if err := st.Add(rows[i:min(i+batch, len(rows))]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st.Flush()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cpu := benchenv.CPUTime() - c0
	var size int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	n := float64(len(rows))
	if reopened, err = Open(cfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reopened.Close() })
	return float64(cpu.Microseconds()) / n, float64(size) / n, reopened
}

// TestShapeCost compares stores with and without the rows' shapes
// (ShapeField) on the same rows of VIGIL_FIELDCOST_INPUT: CPU and disk of
// storing them, and the time of typical searches (median of
// VIGIL_FIELDCOST_ROUNDS runs each, stores alternating). Skipped without
// the variable.
//
//	VIGIL_FIELDCOST_INPUT=/tmp/input.log go test -count=1 -v -run TestShapeCost ./internal/store/vlstore/
func TestShapeCost(t *testing.T) {
	path := os.Getenv("VIGIL_FIELDCOST_INPUT")
	if path == "" {
		t.Skip("VIGIL_FIELDCOST_INPUT is not set")
	}
	rows := parseFile(t, path, benchenv.Int(t, "VIGIL_FIELDCOST_LINES", 300000))
	rounds := benchenv.Int(t, "VIGIL_FIELDCOST_ROUNDS", 2)
	type variant struct {
		name    string
		noShape bool
		st      *Store
		cpu     []float64
		disk    float64
		queries map[string][]time.Duration
	}
	vs := []*variant{{name: "with shapes"}, {name: "without", noShape: true}}
	storeRows(t, rows[:min(len(rows), 50000)]) // warm up the engine and the heap
	for r := 0; r < rounds; r++ {
		for _, v := range vs {
			cpu, disk, st := storeRowsIn(t, t.TempDir(), rows, v.noShape)
			v.cpu, v.disk, v.st = append(v.cpu, cpu), disk, st
		}
	}
	queries := []store.Query{
		{Text: "*", Limit: 100, Order: store.Newest},
		{Text: "*", Limit: 10000, Order: store.Newest},
		{Text: "Exchange.asmx | stats count() n"},
		{Text: "http.response.status_code:401 | stats count() n"},
		{Text: "event.outcome:failure | stats by (user.name) count() n"},
		{Text: "source.ip:81.211.230.253", Limit: 100, Order: store.Newest},
		{Text: "user.name:*", Limit: 100, Order: store.Newest},
		{Text: "* | stats by (url.path) count() n"},
		{Text: `user_agent.original:~"iPhone" | stats count() n`},
		{Text: "* | stats by (source.ip, user.name, url.path, url.query, user_agent.original) count() n"},
	}
	counts := map[string][]int{}
	for r := 0; r < rounds+1; r++ { // the first round warms the caches
		for _, q := range queries {
			for _, v := range vs {
				if v.queries == nil {
					v.queries = map[string][]time.Duration{}
				}
				n := 0
				start := time.Now()
				if err := v.st.Search(context.Background(), q, func(store.Row) error { n++; return nil }); err != nil {
					t.Fatal(err)
				}
				key := fmt.Sprintf("%s limit %d", q.Text, q.Limit)
				if r > 0 {
					v.queries[key] = append(v.queries[key], time.Since(start))
				}
				counts[key] = append(counts[key], n)
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| | %s | %s |\n|---|--:|--:|\n", vs[0].name, vs[1].name)
	fmt.Fprintf(&sb, "| store CPU µs/row (rounds) | %.2f | %.2f |\n", vs[0].cpu, vs[1].cpu)
	fmt.Fprintf(&sb, "| store B/row | %.1f | %.1f |\n", vs[0].disk, vs[1].disk)
	for _, q := range queries {
		key := fmt.Sprintf("%s limit %d", q.Text, q.Limit)
		for _, c := range counts[key] {
			if c != counts[key][0] {
				t.Errorf("%s: row counts differ between the stores and rounds: %v", key, counts[key])
				break
			}
		}
		fmt.Fprintf(&sb, "| `%s` (limit %d; %d rows), median ms | %.1f | %.1f |\n", q.Text, q.Limit, counts[key][0],
			medianMS(vs[0].queries[key]), medianMS(vs[1].queries[key]))
	}
	t.Log(sb.String())
}

func medianMS(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}
