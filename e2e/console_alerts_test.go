package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-soc/vigil/internal/storage"
)

// alertsPage is the part of GET /api/v1/alerts and /api/v1/incidents the
// test reads.
type alertsPage struct {
	Total  int `json:"total"`
	Alerts []struct {
		Alert struct {
			ID     string `json:"alert.id"`
			RuleID string `json:"rule.id"`
			User   string `json:"user.name"`
			SrcIP  string `json:"source.ip"`
		} `json:"alert"`
		Status   string `json:"status"`
		Comments []struct {
			Author, Text string
		} `json:"comments"`
	} `json:"alerts"`
	Incidents []struct {
		ID     string `json:"id"`
		Level  string `json:"level"`
		Alerts int    `json:"alerts"`
		Status string `json:"status"`
	} `json:"incidents"`
}

func (v *vigil) alertsAPI(t *testing.T, path string) alertsPage {
	t.Helper()
	code, body, err := v.get(path, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
	var p alertsPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return p
}

// TestConsoleAlerts: a compromised account (a brute force from one
// address, then a success from it, then a lockout) and an unrelated brute
// force raise alerts through the built-in rules; the console's queue
// shows two incidents, the account's first; an analyst acknowledges one
// of its alerts in the browser; the status is in the API, survives a
// restart, and is in the audit trail.
func TestConsoleAlerts(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir})
	now := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	var lines []string
	for i := range 25 { // brute-force-source and the failures before the success
		lines = append(lines, imapLine(at(i), "203.0.113.66", "zhangwei", false))
	}
	lines = append(lines, imapLine(at(30), "203.0.113.66", "zhangwei", true)) // login-after-failures
	lines = append(lines, lockoutLine(at(40), "zhangwei"))                    // account-locked-out
	for i := range 25 {
		lines = append(lines, imapLine(at(100+i), "198.51.100.23", fmt.Sprintf("user%d", i), false))
	}
	sendLines(t, v.syslogAddr, lines)

	deadline := time.Now().Add(waitTimeout)
	var inc alertsPage
	for {
		inc = v.alertsAPI(t, "/api/v1/incidents")
		if len(inc.Incidents) == 2 && inc.Incidents[0].Alerts == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(inc.Incidents) != 2 || inc.Incidents[0].Level != "critical" || inc.Incidents[0].Alerts != 3 {
		all := v.alertsAPI(t, "/api/v1/alerts")
		t.Fatalf("incidents: %+v; alerts: %+v", inc, all)
	}
	account, other := inc.Incidents[0].ID, inc.Incidents[1].ID
	al := v.alertsAPI(t, "/api/v1/alerts?rule=login-after-failures")
	if al.Total != 1 || al.Alerts[0].Alert.User != "zhangwei" || al.Alerts[0].Status != "new" {
		t.Fatalf("login-after-failures alerts: %+v", al)
	}
	success := al.Alerts[0].Alert.ID
	// The alerts are apart from the events: the address's events are the
	// 26 logins only.
	if n, err := v.count(`source.ip:"203.0.113.66"`); n != 26 || err != nil {
		t.Errorf("events of 203.0.113.66: %d %v, want 26", n, err)
	}

	// vigil search finds the alert with --scope alerts only.
	for scope, want := range map[string]bool{"alerts": true, "events": false} {
		out, errOut, code := runVigil(t, "search", "--server", v.httpURL, "--token", v.token, "--scope", scope, `rule.id:"login-after-failures"`)
		if code != 0 || strings.Contains(out, `"alert.id":"`+success+`"`) != want {
			t.Errorf("vigil search --scope %s: exit %d, stdout %q, stderr %q", scope, code, out, errOut)
		}
	}

	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	b.visit("/alerts")
	if txt := b.text("table.queue tbody tr"); !strings.Contains(txt, "zhangwei") || !strings.Contains(txt, "203.0.113.66") {
		t.Errorf("the queue's first row: %q", txt)
	}
	b.screenshot("alerts-queue")
	b.visit("/alerts?view=alerts")
	b.screenshot("alerts-list")

	// Open the incident from the queue, then its critical alert.
	b.visit("/alerts")
	b.do(chromedp.Click(chromedp.CSS(`table.queue tbody tr:first-child a[href^="/incidents/"]`)),
		chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	if loc := b.location(); loc != "/incidents/"+account {
		t.Errorf("incident link went to %s", loc)
	}
	b.screenshot("alerts-incident")
	b.visit("/alerts/" + success)
	if txt := b.text("section.panel table.kv"); !strings.Contains(txt, "zhangwei") {
		t.Errorf("alert details: %q", txt)
	}
	b.screenshot("alerts-alert")

	// The brute force's alert shows its action and the decision it made
	// (dry run: enforcement is off by default).
	bf := v.alertsAPI(t, "/api/v1/alerts?rule=brute-force-source&source=203.0.113.66")
	if bf.Total != 1 {
		t.Fatalf("brute-force-source alerts of 203.0.113.66: %+v", bf)
	}
	var actions string
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(200 * time.Millisecond) {
		b.visit("/alerts/" + bf.Alerts[0].Alert.ID)
		if actions = b.text("#actions"); strings.Contains(actions, "dry run") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(actions, "ban ip 203.0.113.66") || !strings.Contains(actions, "dry run") {
		t.Errorf("the brute force's enforcement panel: %q", actions)
	}
	b.screenshot("alerts-alert-actions")
	b.visit("/alerts/" + success)

	// Acknowledge it with a comment through the form.
	b.do(
		chromedp.SetValue(chromedp.CSS(`form.triage select[name="status"]`), "acknowledged"),
		chromedp.SendKeys(chromedp.CSS(`form.triage textarea[name="comment"]`), "calling zhangwei"),
		chromedp.Click(chromedp.CSS(`form.triage button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if txt := b.text(".alert-head .status"); txt != "Acknowledged" {
		t.Errorf("status after the form: %q", txt)
	}
	b.screenshot("alerts-alert-acknowledged")
	b.switchLanguage("zh-CN")
	b.visit("/incidents/" + account)
	b.screenshot("alerts-incident-zh")

	al = v.alertsAPI(t, "/api/v1/alerts?rule=login-after-failures&status=acknowledged")
	if al.Total != 1 || len(al.Alerts[0].Comments) != 1 || al.Alerts[0].Comments[0].Author != "admin" {
		t.Fatalf("after the form, the API: %+v", al)
	}

	// Bulk: acknowledge the other incident from the queue.
	b.switchLanguage("en")
	b.visit("/alerts")
	b.do(
		chromedp.Click(chromedp.CSS(`table.queue tbody tr:nth-child(2) input[name="id"]`)),
		chromedp.Click(chromedp.CSS(`.bulkbar button[value="acknowledged"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	b.screenshot("alerts-queue-after-bulk")
	inc = v.alertsAPI(t, "/api/v1/incidents?status=acknowledged")
	if len(inc.Incidents) != 1 || inc.Incidents[0].ID != other {
		t.Errorf("acknowledged incidents after the bulk action: %+v", inc)
	}

	// The status survives a restart, and the change is in the audit trail.
	v.stop(t)
	db, err := storage.Open(filepath.Join(dataDir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	audit, err := db.Audit(storage.AuditFilter{})
	db.Close()
	// Newest first: the incident, its alerts, then the alert's own change.
	if err != nil || len(audit) < 3 || audit[0].Action != "incident.update" || audit[0].Target != "incident "+other {
		t.Errorf("audit: %+v %v", audit, err)
	}
	var form *storage.AuditEntry
	for i := range audit {
		if audit[i].Target == "alert "+success && strings.Contains(audit[i].Detail, `comment "calling zhangwei"`) {
			form = &audit[i]
		}
	}
	if form == nil || form.Actor != "admin" || form.Via != "console" || form.Action != "alert.update" ||
		!strings.Contains(form.Detail, "status new -> acknowledged") {
		t.Errorf("audit of the form: %+v in %+v", form, audit)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir})
	code, body, err := v.get("/api/v1/alerts/"+success, true)
	if err != nil || code != 200 || !strings.Contains(string(body), `"status":"acknowledged"`) {
		t.Errorf("after a restart: %d %v %.300s", code, err, body)
	}
}
