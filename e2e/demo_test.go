package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/demo"
)

// geoipTestDB returns the GeoIP test database (scripts/fetch-geoip-testdb.sh),
// skipping the test without it (failing under VIGIL_TEST_STRICT).
func geoipTestDB(t *testing.T) string {
	t.Helper()
	return testDB(t, "VIGIL_GEOIP_TESTDB", "/var/cache/vigil-test/geo-whois-asn-country.mmdb", "scripts/fetch-geoip-testdb.sh")
}

// testDB returns the test database named by the environment variable env
// (default def), skipping the test without it (failing under
// VIGIL_TEST_STRICT or in CI); fetch is the script that fetches it.
func testDB(t *testing.T, env, def, fetch string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = def
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" || os.Getenv("CI") != "" {
			t.Fatalf("no test database (%s): %v", fetch, err)
		}
		t.Skipf("no test database (%s): %v", fetch, err)
	}
	return path
}

// TestDemo runs `vigil demo` against a server with the built-in rule
// pack, the GeoIP test database and an empty lists folder (the demo
// writes its device registry and admins list there), and checks that the
// day raises exactly the alerts its scenario expects: each expected rule
// and group once, and no other rule or group (follow-ups of the expected
// ones aside).
func TestDemo(t *testing.T) {
	v, sc, stderr := runDemo(t)
	want := demoWant(t, sc)
	for _, s := range []string{fmt.Sprintf("Sent %d lines", len(sc.Lines)), v.httpURL + "/", "vigil search --scope alerts"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("the demo's summary lacks %q", s)
		}
	}
	if strings.Contains(stderr, "missing:") || strings.Contains(stderr, "unexpected:") || strings.Contains(stderr, "twice:") {
		t.Errorf("the demo's own check found differences:\n%s", stderr)
	}
	got := waitDemoAlerts(t, v, sc, want)

	firsts := map[string]int{}
	for _, a := range got {
		k := a["rule.id"] + " " + a["alert.group"]
		if a["alert.follow_up"] == "true" {
			if !want[k] {
				t.Errorf("follow-up of an alert the demo does not expect: %s: %s", k, a["_msg"])
			}
			continue
		}
		firsts[k]++
		if !want[k] {
			t.Errorf("unexpected alert %s: %s", k, a["_msg"])
		}
	}
	for k := range want {
		if firsts[k] != 1 {
			t.Errorf("expected alert %s raised %d times, want once", k, firsts[k])
		}
	}
	if n := v.metrics(t)["vigil_detect_late_events_total"]; n != 0 {
		t.Errorf("%v of the demo's events were late for detection, want none", n)
	}
}

// demoSeed is the seed of the e2e tests' demo day.
const demoSeed = 42

// runDemo starts a server with the built-in rule pack, the GeoIP test
// database and an empty lists folder (the demo writes its device registry
// and admins list there), and runs `vigil demo` on it with a day that ends
// now. It returns the server, the day the demo sent and the demo's
// summary (its standard error).
func runDemo(t *testing.T) (*vigil, *demo.Scenario, string) {
	t.Helper()
	dir := t.TempDir()
	listsDir := filepath.Join(dir, "lists")
	if err := os.MkdirAll(listsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  geoip: %s
  lists_dir: %s
console:
  timezone: Asia/Shanghai
`, syslogPort, geoipTestDB(t), listsDir)
	dataDir := filepath.Join(dir, "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})

	// The day ends now; the test fixes it to know what to expect.
	end := time.Now().UTC().Truncate(time.Second)
	sc, err := demo.Generate(demo.Options{Seed: demoSeed, End: end})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runVigil(t, "demo", "--server", v.httpURL, "--data", dataDir, "--lists", listsDir,
		"--seed", fmt.Sprint(demoSeed), "--end", end.Format(time.RFC3339), "--rate", "0", "--wait", "40s")
	if code != 0 {
		t.Fatalf("vigil demo exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	t.Logf("vigil demo:\n%s", stderr)
	return v, sc, stderr
}

// demoWant returns the "rule group" of each alert the day should raise.
func demoWant(t *testing.T, sc *demo.Scenario) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	for _, a := range sc.Expected() {
		want[a.Rule+" "+a.Group] = true
	}
	if len(want) < 15 {
		t.Fatalf("the scenario expects %d alerts: %v", len(want), want)
	}
	return want
}

// waitDemoAlerts waits until every line of the day is searchable, every
// alert in want is there, and the detector has read the whole journal;
// it returns the alerts then.
func waitDemoAlerts(t *testing.T, v *vigil, sc *demo.Scenario, want map[string]bool) []event {
	t.Helper()
	waitCount(t, v, "vigil.input:syslog", len(sc.Lines))
	deadline := time.Now().Add(2 * waitTimeout)
	for {
		got, err := v.search("event.dataset:vigil.alert", searchParams{limit: 10000, start: "30d", scope: "alerts"})
		firsts := map[string]bool{}
		for _, a := range got {
			if a["alert.follow_up"] != "true" {
				firsts[a["rule.id"]+" "+a["alert.group"]] = true
			}
		}
		all := err == nil
		for k := range want {
			all = all && firsts[k]
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("expected alerts missing after %s (err %v); have %v", 2*waitTimeout, err, keys(firsts))
			break // the caller's comparison says which
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitDetectorCaughtUp(t, v)
	got, err := v.search("event.dataset:vigil.alert", searchParams{limit: 10000, start: "30d", scope: "alerts"})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitDetectorCaughtUp polls the status until the detector has read the
// whole journal and the alert store writer the whole alert journal.
func waitDetectorCaughtUp(t *testing.T, v *vigil) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := v.status(t)
		j, _ := st["journal"].(map[string]any)
		det, _ := st["detect"].(map[string]any)
		eng, _ := det["engine"].(map[string]any)
		al, _ := det["alerts"].(map[string]any)
		aj, _ := al["journal"].(map[string]any)
		as, _ := al["store"].(map[string]any)
		if eng["position"] == j["next_seq"] && as["position"] == aj["next_seq"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the detector did not catch up: journal %v, detector %v, alerts %v", j, eng, al)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
