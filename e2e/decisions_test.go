package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// decisionLine is what `vigil decisions list --json` prints per decision.
type decisionLine struct {
	ID     int64  `json:"id"`
	Scope  string `json:"scope"`
	Value  string `json:"value"`
	Type   string `json:"type"`
	Origin string `json:"origin"`
	Alert  string `json:"alert"`
	State  string `json:"state"`
	DryRun bool   `json:"dry_run"`
}

// decisionsCLI runs `vigil decisions ARGS` against v and fails the test
// unless it exits 0.
func decisionsCLI(t *testing.T, v *vigil, args ...string) string {
	t.Helper()
	all := append([]string{"decisions", args[0], "--server", v.httpURL, "--token", v.token}, args[1:]...)
	out, errOut, code := runVigil(t, all...)
	if code != 0 {
		t.Fatalf("vigil %s: exit %d: %s%s", strings.Join(all, " "), code, out, errOut)
	}
	return out
}

func listDecisions(t *testing.T, v *vigil, args ...string) []decisionLine {
	t.Helper()
	out := decisionsCLI(t, v, append([]string{"list", "--json"}, args...)...)
	var ds []decisionLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var d decisionLine
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("decisions list: %q: %v", line, err)
		}
		ds = append(ds, d)
	}
	return ds
}

// TestDecisions: with enforce.enabled, an ssh brute force from a public
// address makes the built-in brute-force-source rule ban that address
// (one decision, however often the alert is read), while the same attack
// from an own network bans nothing; an operator adds and deletes
// decisions with the CLI; everything survives kill -9; the metrics count
// it all.
func TestDecisions(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	cfg := "enforce:\n  enabled: true\n  own_networks: [198.51.100.0/24]\n"
	v := startVigil(t, vigilOpts{dataDir: dataDir, config: cfg})
	start := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	var lines []string
	for k, attacker := range []string{"203.0.113.46", "198.51.100.9"} {
		for i := range 20 {
			at := start.Add(time.Duration(i)*5*time.Second + time.Duration(k)*time.Second)
			lines = append(lines, fmt.Sprintf("<38>%s jump%d sshd[%d]: Failed password for root from %s port %d ssh2",
				at.Format(time.Stamp), k+1, 4000+100*k+i, attacker, 50000+i))
		}
	}
	sendLines(t, v.syslogAddr, lines)
	for _, a := range []string{"203.0.113.46", "198.51.100.9"} {
		v.waitAlert(t, "rule.id:brute-force-source source.ip:"+a)
	}

	var ban decisionLine
	deadline := time.Now().Add(waitTimeout)
	for {
		if ds := listDecisions(t, v, "--origin", "rule:"); len(ds) > 0 {
			if len(ds) != 1 {
				t.Fatalf("rule decisions %+v, want one (the own network is refused)", ds)
			}
			ban = ds[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no decision from brute-force-source")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ban.Scope != "ip" || ban.Value != "203.0.113.46" || ban.Type != "ban" || ban.Origin != "rule:brute-force-source" ||
		ban.State != "active" || ban.Alert == "" {
		t.Errorf("rule decision %+v", ban)
	}
	if m := v.waitMetric(t, `vigil_decisions_refused_total{reason="own_network"}`, 1); m != 1 {
		t.Errorf("refused own_network = %v, want 1", m)
	}

	// An operator bans a user and a device, then lifts the user's ban.
	out := decisionsCLI(t, v, "add", "--duration", "2h", "--reason", "phished", "user", `CORP\Mallory`)
	if !strings.Contains(out, "ban user mallory until") {
		t.Errorf("add user: %q", out)
	}
	decisionsCLI(t, v, "add", "--type", "ban", "--duration", "7d", "device", "ApplLOST0001")
	if _, errOut, code := runVigil(t, "decisions", "add", "--server", v.httpURL, "--token", v.token, "--duration", "1h", "ip", "127.0.0.1"); code != 1 ||
		!strings.Contains(errOut, "private") {
		t.Errorf("add loopback: exit %d %q, want 1 and the reason", code, errOut)
	}
	if got := v.metrics(t)[`vigil_decisions_refused_total{reason="private"}`]; got != 1 {
		t.Errorf("refused private = %v, want 1", got)
	}
	users := listDecisions(t, v, "--scope", "user")
	if len(users) != 1 || users[0].Value != "mallory" || !strings.HasPrefix(users[0].Origin, "operator:") {
		t.Fatalf("user decisions %+v", users)
	}
	decisionsCLI(t, v, "delete", fmt.Sprint(users[0].ID))
	table := decisionsCLI(t, v, "list", "--state", "all")
	for _, want := range []string{"ID", "203.0.113.46", "ApplLOST0001", "mallory", "deleted"} {
		if !strings.Contains(table, want) {
			t.Errorf("list --state all lacks %q:\n%s", want, table)
		}
	}
	if got := v.metrics(t)["vigil_decisions_active"]; got != 2 {
		t.Errorf("vigil_decisions_active = %v, want 2", got)
	}

	// kill -9: the decisions and the deletion are there after the restart,
	// and the alert journal read again makes no second decision.
	v.kill(t)
	v = startVigil(t, vigilOpts{dataDir: dataDir, config: cfg})
	all := listDecisions(t, v, "--state", "all")
	if len(all) != 3 {
		t.Fatalf("after the restart: %+v, want 3 decisions", all)
	}
	states := map[string]string{}
	for _, d := range all {
		states[d.Value] = d.State
	}
	if states["203.0.113.46"] != "active" || states["ApplLOST0001"] != "active" || states["mallory"] != "deleted" {
		t.Errorf("after the restart: %v", states)
	}
	out = decisionsCLI(t, v, "add", "--duration", "1h", "ip", "203.0.113.99")
	if !strings.Contains(out, "decision 4:") {
		t.Errorf("ids after the restart: %q, want decision 4", out)
	}
}
