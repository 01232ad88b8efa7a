package e2e

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/vigil-soc/vigil/internal/demo"
)

// TestConsoleDemo runs the real `vigil demo` on a server, logs into the
// console and checks that its queue (/alerts as a newcomer first sees
// it: open incidents of the last 24 hours) shows exactly the incidents
// the demo's episodes should make: each row the alerts of one episode
// about the same user, address or device, every expected alert in one
// row, nothing else. It saves the queue and the new-country incident at
// 1366x768 (the whole page); with VIGIL_README_SHOTS=docs/img (relative to the
// repository) it writes them as the README's console-incidents.png and
// console-incident.png.
func TestConsoleDemo(t *testing.T) {
	v, sc, _ := runDemo(t)
	want := demoWant(t, sc)
	waitDemoAlerts(t, v, sc, want)

	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	b.visit("/alerts")
	rows := run(b, chromedp.Evaluate[[]queueRow](`[...document.querySelectorAll("table.queue tbody tr")].map(tr => ({
		id: tr.querySelector('a[href^="/incidents/"]').getAttribute("href").slice("/incidents/".length),
		entities: [...tr.querySelectorAll("a.entity")].map(a => a.textContent.trim()),
		rules: tr.cells[tr.cells.length - 5].textContent.trim() // level, status, last, entities, rules, alerts, events, first, assignee
	}))`))

	// What each row is: its incident's alerts, from the API. A row of
	// follow-ups only is an alert's follow-up that came more than
	// console.incident_window after the incident of its first alert (the
	// traveller's phone syncing again hours later): it must be one of an
	// expected alert, and is left out of the comparison.
	titles := v.ruleTitles(t)
	firsts := make([][]string, len(rows)) // per row: its first alerts' "rule group", sorted
	var got [][]string
	seen := map[string]int{}
	for i, r := range rows {
		for _, it := range v.incident(t, r.ID).Timeline {
			k := it.Alert.RuleID + " " + it.Alert.Group
			if !want[k] {
				t.Errorf("queue row %v has an alert the demo does not expect: %s", r.Entities, k)
			}
			if !it.Alert.FollowUp {
				firsts[i] = append(firsts[i], k)
				seen[k]++
			}
			if title := titles[it.Alert.RuleID]; !strings.Contains(r.Rules, title) {
				t.Errorf("queue row %v shows the rules %q, lacking %q", r.Entities, r.Rules, title)
			}
		}
		if firsts[i] == nil {
			t.Logf("queue row %v (%s): follow-ups only", r.Entities, r.Rules)
			continue
		}
		sort.Strings(firsts[i])
		got = append(got, firsts[i])
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("expected alert %s is in %d rows of the queue, want 1", k, seen[k])
		}
	}
	exp := demoIncidents(sc)
	sortRows := func(rs [][]string) {
		slices.SortFunc(rs, func(a, b []string) int { return strings.Compare(strings.Join(a, "|"), strings.Join(b, "|")) })
	}
	sortRows(got)
	sortRows(exp)
	if !slices.EqualFunc(got, exp, slices.Equal[[]string]) {
		t.Errorf("the queue has %d incidents (follow-ups aside):\n%s\nwant %d:\n%s", len(got), fmtRows(got), len(exp), fmtRows(exp))
	}
	shots := readmeShots(t)
	shots.save(b, "console-incidents")

	// The new-country episode's incident: the stolen password's two
	// alerts, opened from the queue.
	i := slices.IndexFunc(firsts, func(ks []string) bool {
		return slices.ContainsFunc(ks, func(k string) bool { return strings.HasPrefix(k, "login-new-country ") })
	})
	if i < 0 {
		t.Fatalf("no queue row with login-new-country: %+v", rows)
	}
	b.do(chromedp.Click(chromedp.CSS(`table.queue tbody tr:nth-child(`+strconv.Itoa(i+1)+`) td.nowrap a[href^="/incidents/"]`)),
		chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	if loc := b.location(); loc != "/incidents/"+rows[i].ID {
		t.Errorf("the incident link went to %s", loc)
	}
	tl := b.text("ol.timeline")
	for _, r := range []string{"login-new-country", "impossible-travel"} {
		if !strings.Contains(tl, titles[r]) {
			t.Errorf("the incident's timeline lacks %s: %q", r, tl)
		}
	}
	shots.save(b, "console-incident")
}

// queueRow is what a row of the incident queue shows.
type queueRow struct {
	ID       string   `json:"id"`
	Entities []string `json:"entities"`
	Rules    string   `json:"rules"`
}

// demoIncidents returns the incidents the demo's day should make, each
// as the sorted "rule group" of its first alerts: within an episode, the
// alerts whose group keys name the same user.name, source.ip or device.id
// are one incident (the episodes are hours apart and their casts
// distinct). An alert whose key names none of them is about what its
// events name: those of its episode, so it joins the episode's incident
// when there is one (request-flood names the flooding address), and is
// one of its own otherwise (log-source-silent).
func demoIncidents(sc *demo.Scenario) [][]string {
	var out [][]string
	for _, e := range sc.Episodes {
		var incs [][]demo.Alert
		var keyless []demo.Alert
		for _, a := range e.Expect {
			ents := groupEntities(a.Group)
			if len(ents) == 0 {
				keyless = append(keyless, a)
				continue
			}
			var into []int
			for i, in := range incs {
				if slices.ContainsFunc(in, func(b demo.Alert) bool {
					return slices.ContainsFunc(groupEntities(b.Group), func(x string) bool { return slices.Contains(ents, x) })
				}) {
					into = append(into, i)
				}
			}
			merged := []demo.Alert{a}
			for j := len(into) - 1; j >= 0; j-- {
				merged = append(merged, incs[into[j]]...)
				incs = slices.Delete(incs, into[j], into[j]+1)
			}
			incs = append(incs, merged)
		}
		switch {
		case len(keyless) > 0 && len(incs) == 1:
			incs[0] = append(incs[0], keyless...)
		default:
			for _, a := range keyless {
				incs = append(incs, []demo.Alert{a})
			}
		}
		for _, in := range incs {
			var ks []string
			for _, a := range in {
				ks = append(ks, a.Rule+" "+a.Group)
			}
			sort.Strings(ks)
			out = append(out, ks)
		}
	}
	return out
}

// groupEntities returns the user, address and device fields of a group
// key ("user.name=zhangwei source.ip=203.0.113.5").
func groupEntities(group string) []string {
	var out []string
	for _, kv := range strings.Fields(group) {
		if f, _, _ := strings.Cut(kv, "="); f == "user.name" || f == "source.ip" || f == "device.id" {
			out = append(out, kv)
		}
	}
	return out
}

func fmtRows(rs [][]string) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  " + strings.Join(r, "; ") + "\n")
	}
	return b.String()
}

// ruleTitles returns the rules' titles by id (GET /api/v1/rules).
func (v *vigil) ruleTitles(t *testing.T) map[string]string {
	t.Helper()
	var rules struct {
		Rules []struct{ ID, Title string } `json:"rules"`
	}
	v.getJSON(t, "/api/v1/rules", &rules)
	m := map[string]string{}
	for _, r := range rules.Rules {
		m[r.ID] = r.Title
	}
	return m
}

// demoIncident is the part of GET /api/v1/incidents/{id} the test reads.
type demoIncident struct {
	Timeline []struct {
		Alert struct {
			RuleID   string `json:"rule.id"`
			Group    string `json:"alert.group"`
			FollowUp bool   `json:"alert.follow_up"`
		} `json:"alert"`
	} `json:"timeline"`
}

func (v *vigil) incident(t *testing.T, id string) demoIncident {
	t.Helper()
	var in demoIncident
	v.getJSON(t, "/api/v1/incidents/"+id, &in)
	return in
}

// getJSON reads an API answer into out, failing the test on anything but
// 200 with JSON.
func (v *vigil) getJSON(t *testing.T, path string, out any) {
	t.Helper()
	code, body, err := v.get(path, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %.500s", path, code, err, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v: %.500s", path, err, body)
	}
}

// shotDirs are where a test saves viewport screenshots: the harness's
// directory and, with $VIGIL_README_SHOTS, that folder of the repository.
type shotDirs struct {
	t    *testing.T
	dirs []string
}

func readmeShots(t *testing.T) shotDirs {
	s := shotDirs{t: t, dirs: []string{screenshotDir(t)}}
	if d := os.Getenv("VIGIL_README_SHOTS"); d != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join("..", d) // the tests run in e2e/
		}
		s.dirs = append(s.dirs, d)
	}
	return s
}

// save writes the whole page (1366 pixels wide, as the harness's
// screenshot) as name.png into each folder, recompressed as small as Go's
// encoder makes it.
func (s shotDirs) save(b *browser, name string) {
	s.t.Helper()
	raw := run(b, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		s.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		s.t.Fatal(err)
	}
	for _, d := range s.dirs {
		path := filepath.Join(d, name+".png")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			s.t.Fatal(err)
		}
		s.t.Logf("screenshot %s (%d bytes)", path, buf.Len())
	}
}
