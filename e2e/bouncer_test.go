package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// owaFailure is a failed OWA forms logon from ip as Vigil's nginx JSON
// access log shows it: the POST to auth.owa, then the redirect to the logon
// page with reason=2 (wrong user name or password), which is the failure.
func owaFailure(at time.Time, ip string) []string {
	at = at.UTC()
	line := func(status int, uri, query, method string) string {
		return fmt.Sprintf(`<134>%s proxy1 nginx: {"source":"192.168.0.8", "ip":"%s", "user":"-", "time_local":"%s", "statuscode":%d, "bytes_sent":512, "http_referer":"", "http_user_agent":"Mozilla/5.0", "request_uri":"%s", "request_time":0.01, "gzip_ration":"", "query_string":"%s", "request_method":"%s"}`,
			at.Format(time.Stamp), ip, at.Format("02/Jan/2006:15:04:05 -0700"), status, uri, query, method)
	}
	q := "url=https%3a%2f%2fmail.corp.example%2fowa%2f&reason=2"
	return []string{line(302, "/owa/auth.owa", "", "POST"), line(200, "/owa/auth/logon.aspx?"+q, q, "GET")}
}

// custom bouncer is Debian's crowdsec-custom-bouncer pulling from v with
// key; its script appends each call's arguments as a line to calls.
type customBouncer struct {
	*proc
	calls string
}

func startCustomBouncer(t *testing.T, bin string, v *vigil, key string) *customBouncer {
	t.Helper()
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls.txt")
	script := filepath.Join(dir, "record.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '"+calls+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// update_frequency: the bouncer accepts durations below a second;
	// 200ms keeps the test short.
	cfg := fmt.Sprintf(`bin_path: %s
feed_via_stdin: false
total_retries: 0
scenarios_containing: []
scenarios_not_containing: []
origins: []
piddir: %s/
update_frequency: 200ms
cache_retention_duration: 10s
daemonize: false
log_mode: stdout
log_dir: %s/
log_level: debug
api_url: %s/
api_key: %s
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60602
`, script, dir, dir, v.httpURL, key)
	cfgPath := filepath.Join(dir, "crowdsec-custom-bouncer.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "crowdsec-custom-bouncer", filepath.Join(dir, "bouncer.log"), bin, "-c", cfgPath)
	return &customBouncer{proc: p, calls: calls}
}

// waitCall waits for a script call starting with prefix and returns it.
func (b *customBouncer) waitCall(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		data, _ := os.ReadFile(b.calls)
		for line := range strings.SplitSeq(string(data), "\n") {
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
		if b.exited() {
			t.Fatalf("crowdsec-custom-bouncer exited: %v; calls so far:\n%s", b.err, data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call %q of the bouncer's script within %s; calls so far:\n%s", prefix, waitTimeout, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do sends a request to v with the given headers and returns the status
// and body.
func (v *vigil) do(t *testing.T, method, path string, body any, headers ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, v.httpURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestCrowdSecCustomBouncer runs Debian's crowdsec-custom-bouncer,
// unmodified, against Vigil: a scripted OWA brute force makes its script
// receive "add <address> ...", deleting the decision "del <address> ...",
// and an operator's range ban comes as add, then as del when it expires.
// Bouncer keys and operator tokens do not open each other's endpoints.
func TestCrowdSecCustomBouncer(t *testing.T) {
	bin := requireProgram(t, "crowdsec-custom-bouncer")
	v := startVigil(t, vigilOpts{config: bouncerConfig(t)})
	defer v.stop(t)

	out, errOut, code := runVigil(t, "bouncers", "add", "--server", v.httpURL, "--data", v.dataDir, "e2e-custom")
	if code != 0 {
		t.Fatalf("vigil bouncers add: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if len(key) != 64 {
		t.Fatalf("vigil bouncers add: last line %q is not a key", key)
	}

	// Each side's credentials open only its own endpoints.
	for _, h := range [][]string{{"X-Api-Key", v.token}, {"Authorization", "Bearer " + v.token}, {"Authorization", "Bearer " + key}} {
		if c, b := v.do(t, "GET", "/v1/decisions/stream?startup=true", nil, h...); c != http.StatusForbidden {
			t.Errorf("stream with %s: %d %s, want 403", h[0], c, b)
		}
	}
	for _, h := range [][]string{{"X-Api-Key", key}, {"Authorization", "Bearer " + key}} {
		if c, b := v.do(t, "GET", "/api/v1/status", nil, h...); c != http.StatusUnauthorized {
			t.Errorf("status with the bouncer key in %s: %d %s, want 401", h[0], c, b)
		}
	}

	b := startCustomBouncer(t, bin, v, key)
	waitBouncerPull(t, v, "e2e-custom")

	attacker := "203.0.113.77"
	now := time.Now().Add(-time.Minute)
	var brute []string
	for i := range 25 {
		brute = append(brute, owaFailure(now.Add(time.Duration(i)*time.Second), attacker)...)
	}
	sendLines(t, v.syslogAddr, brute)
	v.waitAlert(t, "rule.id:brute-force-source source.ip:"+attacker)
	add := b.waitCall(t, "add "+attacker+" ")
	t.Logf("script called: %s", add)
	// add <value> <seconds> <scenario> <decision as JSON>
	f := strings.SplitN(add, " ", 5)
	var d struct {
		ID       int64
		Scope    string
		Scenario string
		Origin   string
	}
	if len(f) != 5 || json.Unmarshal([]byte(f[4]), &d) != nil || d.ID == 0 {
		t.Fatalf("script arguments %q: want add VALUE SECONDS SCENARIO JSON", add)
	}
	if f[3] != "brute-force-source" || d.Scope != "Ip" || d.Origin != "vigil" || d.Scenario != "brute-force-source" {
		t.Errorf("decision sent: %q", add)
	}
	if n, err := strconv.Atoi(f[2]); err != nil || n <= 0 || n > 3600 {
		t.Errorf("duration %q: want the seconds left of the 1h ban", f[2])
	}
	id := d.ID

	deleteDecision(t, v, id)
	del := b.waitCall(t, "del "+attacker+" ")
	t.Logf("script called: %s", del)

	// An operator's short range ban: added, then sent as deleted when it
	// expires (expiry is no change in the store; the stream reports it).
	if c, body := v.do(t, "POST", "/api/v1/decisions", map[string]string{"scope": "range", "value": "198.51.100.0/24",
		"duration": "3s", "reason": "e2e expiry"}, "Authorization", "Bearer "+v.token); c != http.StatusCreated {
		t.Fatalf("POST /api/v1/decisions: %d %s", c, body)
	}
	b.waitCall(t, "add 198.51.100.0/24 ")
	t.Logf("script called: %s", b.waitCall(t, "del 198.51.100.0/24 "))

	// The live mode answers the same key; nothing matches any more.
	if c, body := v.do(t, "GET", "/v1/decisions?ip="+attacker, nil, "X-Api-Key", key); c != http.StatusOK || strings.TrimSpace(string(body)) != "null" {
		t.Errorf("live query after the delete: %d %s, want 200 null", c, body)
	}
	// A deleted bouncer's key stops working.
	if _, errOut, code := runVigil(t, "bouncers", "delete", "--server", v.httpURL, "--data", v.dataDir, "e2e-custom"); code != 0 {
		t.Fatalf("vigil bouncers delete: exit %d: %s", code, errOut)
	}
	if c, body := v.do(t, "GET", "/v1/decisions/stream", nil, "X-Api-Key", key); c != http.StatusForbidden {
		t.Errorf("stream with a deleted bouncer's key: %d %s, want 403", c, body)
	}
}

// waitBouncerPull waits until /api/v1/status shows a pull by the bouncer
// called name.
func waitBouncerPull(t *testing.T, v *vigil, name string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		bs, _ := v.status(t)["bouncers"].([]any)
		for _, b := range bs {
			m, _ := b.(map[string]any)
			if m["name"] == name && m["last_pull"] != nil && m["last_agent"] != nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status shows no pull by bouncer %s within %s: %v", name, waitTimeout, bs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bouncerConfig turns on the rules' actions: brute-force-source bans its
// source.
func bouncerConfig(t *testing.T) string {
	t.Helper()
	return "enforce:\n  enabled: true\n"
}

// deleteDecision deletes decision id through the operator API.
func deleteDecision(t *testing.T, v *vigil, id int64) {
	t.Helper()
	c, body := v.do(t, "DELETE", fmt.Sprintf("/api/v1/decisions/%d", id), nil, "Authorization", "Bearer "+v.token)
	if c/100 != 2 {
		t.Fatalf("DELETE /api/v1/decisions/%d: %d %s", id, c, body)
	}
}
