package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// call sends a request with a JSON body to the HTTP API with the token.
func (v *vigil) call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, v.httpURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// easSync is an IIS line of a successful ActiveSync sync, after the
// #Fields header that IIS lines need.
func easSync(at time.Time, user, device string) string {
	bsd := func(msg string) string { return fmt.Sprintf("<134>%s exch01 IIS: %s", at.Format(time.Stamp), msg) }
	return bsd("#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken") + "\n" +
		bsd(at.Format("2006-01-02 15:04:05")+" 10.0.0.5 POST /Microsoft-Server-ActiveSync/default.eas User="+user+"&DeviceId="+device+
			"&DeviceType=iPhone&Cmd=Sync 443 CORP\\"+user+" 203.0.113.7 Apple-iPhone14C2/2006.100 - 200 0 0 15") + "\n"
}

// TestRevokeDevice: a device revoked through the API is unregistered for
// the next event without a restart (the built-in
// activesync-unregistered-device rule fires on its next sync), and the
// registry file is written back with who revoked it. A rule disabled
// through the API stays disabled after a restart.
func TestRevokeDevice(t *testing.T) {
	dir := t.TempDir()
	listsDir := filepath.Join(dir, "lists")
	if err := os.MkdirAll(listsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	devices := filepath.Join(listsDir, "devices.yaml")
	reg := "name: devices\nkind: device\nentries:\n  - user: zhangwei\n    device: LOSTPHONE1\n    model: iPhone 15\n"
	if err := os.WriteFile(devices, []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	syslogPort := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\ndetect:\n  lists_dir: %s\n", syslogPort, listsDir)
	dataDir := filepath.Join(dir, "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	const rule = "activesync-unregistered-device"

	// Registered: the rule's condition fails, no hit.
	now := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Second)
	sendTCP(t, addr, []byte(easSync(now, "zhangwei", "LOSTPHONE1")))
	v.waitMetric(t, "vigil_detect_events_total", 2)
	if st := ruleStats(t, v, rule); st.Hits != 0 || st.Alerts != 0 {
		t.Fatalf("registered device: stats %+v", st)
	}

	code, body := v.call(t, "POST", "/api/v1/devices/LOSTPHONE1/revoke", `{"reason":"lost on the metro"}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"state":"revoked"`) {
		t.Fatalf("revoke: %d %s", code, body)
	}
	data, err := os.ReadFile(devices)
	if err != nil || !strings.Contains(string(data), "revoked_by: token") || !strings.Contains(string(data), "model: iPhone 15") {
		t.Fatalf("devices.yaml after the revocation (%v):\n%s", err, data)
	}
	if fi, _ := os.Stat(devices); fi.Mode().Perm() != 0o600 {
		t.Errorf("devices.yaml mode %v, want 0600 kept", fi.Mode().Perm())
	}

	// The next sync from the lost phone alerts, without a restart.
	sendTCP(t, addr, []byte(easSync(now.Add(time.Minute), "zhangwei", "LOSTPHONE1")))
	a := v.waitOne(t, "event.dataset:vigil.alert rule.id:"+rule)
	if a["device.id"] != "LOSTPHONE1" || a["user.name"] != "zhangwei" {
		t.Fatalf("alert %v", a)
	}
	if st := ruleStats(t, v, rule); st.Hits != 1 || st.Alerts != 1 || st.LastAlert.IsZero() {
		t.Fatalf("stats after the alert: %+v", st)
	}
	code, body = v.call(t, "GET", "/api/v1/devices?user=zhangwei", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"revoked_by":"token"`) {
		t.Fatalf("devices: %d %s", code, body)
	}

	// Disable a rule; it stays disabled across a restart.
	if code, body := v.call(t, "PATCH", "/api/v1/rules/"+rule, `{"enabled":false}`); code != http.StatusOK || !strings.Contains(string(body), `"enabled":false`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exited %d", code)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	code, body = v.call(t, "GET", "/api/v1/rules/"+rule, "")
	var r struct {
		Enabled   bool   `json:"enabled"`
		State     string `json:"state"`
		ChangedBy string `json:"changed_by"`
		Source    string `json:"source"`
	}
	if err := json.Unmarshal(body, &r); code != http.StatusOK || err != nil || r.Enabled || r.State != "override" || r.ChangedBy != "token" || !strings.Contains(r.Source, "id: "+rule) {
		t.Fatalf("rule after a restart: %d %s", code, body)
	}
	if m := v.metrics(t); m["vigil_detect_rules"] == 0 {
		t.Error("no rules running")
	}
}

type ruleCounters struct {
	Hits      uint64    `json:"hits"`
	Alerts    uint64    `json:"alerts"`
	LastAlert time.Time `json:"last_alert"`
}

func ruleStats(t *testing.T, v *vigil, id string) ruleCounters {
	t.Helper()
	code, body := v.call(t, "GET", "/api/v1/rules/"+id, "")
	var r struct {
		Stats ruleCounters `json:"stats"`
	}
	if err := json.Unmarshal(body, &r); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/rules/%s: %d %s", id, code, body)
	}
	return r.Stats
}
