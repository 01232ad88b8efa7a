package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleListsFiles are a list folder for the console test: a block
// list, an allow list and a device registry.
var consoleListsFiles = map[string]string{
	"blocked.yaml": `name: blocked
kind: ip
role: block
description: Known bad sources; their alerts are raised one level.
entries:
  - value: 203.0.113.0/24
    note: scanner network seen in March
    by: admin
    added: 2026-03-02T09:00:00Z
`,
	"monitoring.yaml": `name: monitoring
kind: ip
role: allow
rules: [brute-force-source, brute-force-account]
entries:
  - value: 10.20.0.0/24
    note: Zabbix probes
  - value: 192.0.2.10
    note: synthetic OWA login check
    expires: 2027-12-31T00:00:00Z
`,
	"devices.yaml": `name: devices
kind: device
entries:
  - user: zhangwei
    device: 3B6F9E2C1A7D4E58
    model: iPhone 15
    owner: Zhang Wei
    note: issued 2026-03
    added: 2026-03-02T09:00:00Z
  - user: lina
    device: ANDROIDC0FFEE01
    model: Pixel 8
    added: 2026-04-11T02:30:00Z
  - user: wangfang
    device: APPL7Q2K9W1
    model: iPad Air
    added: 2026-05-20T06:00:00Z
`,
}

// TestConsoleLists logs in to the console, revokes a device, adds a
// block-list entry with an expiry and disables a rule, and saves
// screenshots of /lists, a list, /devices, /rules and a rule (English,
// and the device and rule pages in Chinese).
func TestConsoleLists(t *testing.T) {
	dir := t.TempDir()
	listsDir := filepath.Join(dir, "lists")
	if err := os.MkdirAll(listsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range consoleListsFiles {
		if err := os.WriteFile(filepath.Join(listsDir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	syslogPort := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\ndetect:\n  lists_dir: %s\nconsole:\n  timezone: Asia/Shanghai\n", syslogPort, listsDir)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(dir, "data"), syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	// Some traffic, so that the rules have counters: registered syncs and
	// one from a phone nobody registered.
	now := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	var lines []byte
	for i, d := range [][2]string{{"zhangwei", "3B6F9E2C1A7D4E58"}, {"lina", "ANDROIDC0FFEE01"}, {"zhaolei", "UNKNOWN5555"}} {
		lines = append(lines, easSync(now.Add(time.Duration(i)*time.Second), d[0], d[1])...)
	}
	sendTCP(t, addr, lines)
	v.waitAlert(t, "event.dataset:vigil.alert rule.id:activesync-unregistered-device")

	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	// The console asks before destructive changes (data-confirm): answer
	// yes on each page before clicking.
	yes := chromedp.Evaluate[chromedp.Void](`window.confirm = function () { return true; }`)

	b.visit("/lists")
	if got := b.text("main table"); !strings.Contains(got, "blocked") || !strings.Contains(got, "monitoring") || !strings.Contains(got, "devices") {
		t.Errorf("/lists shows %q", got)
	}
	b.screenshot("lists")

	// Add a block-list entry that expires in a month, with a comment
	// (the form reads the wall time in the user's zone and shows it so).
	expires := time.Now().AddDate(0, 1, 0)
	b.visit("/lists/blocked")
	b.do(
		chromedp.SendKeys(chromedp.CSS(`input[name=value]`), "198.51.100.0/24"),
		chromedp.SendKeys(chromedp.CSS(`input[name=note]`), "phishing kit host"),
		chromedp.SetValue(chromedp.CSS(`input[name=expires]`), expires.Format("2006-01-02")+"T18:00"),
		chromedp.Click(chromedp.CSS(`form[action="/lists/blocked/add"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := b.text("main table"); !strings.Contains(got, "198.51.100.0/24") || !strings.Contains(got, "phishing kit host") || !strings.Contains(got, expires.Format("2006-01-02")+" 18:00") {
		t.Errorf("entry after adding: %q", got)
	}
	b.screenshot("list-blocked")
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := expires.Date()
	expiresUTC := time.Date(y, m, d, 18, 0, 0, 0, shanghai).UTC().Format(time.RFC3339)
	data, _ := os.ReadFile(filepath.Join(listsDir, "blocked.yaml"))
	if !strings.Contains(string(data), "198.51.100.0/24") || !strings.Contains(string(data), expiresUTC) || !strings.Contains(string(data), "by: admin") {
		t.Errorf("blocked.yaml after adding:\n%s", data)
	}

	// Revoke zhangwei's lost phone.
	b.visit("/devices?user=zhangwei")
	b.do(
		yes,
		chromedp.SendKeys(chromedp.CSS(`form[action="/devices/revoke"] input[name=reason]`), "lost on the metro"),
		chromedp.Click(chromedp.CSS(`form[action="/devices/revoke"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := b.text("#registry"); !strings.Contains(got, "revoked") || !strings.Contains(got, "lost on the metro") {
		t.Errorf("device after revoking: %q", got)
	}
	data, _ = os.ReadFile(filepath.Join(listsDir, "devices.yaml"))
	if !strings.Contains(string(data), "revoked_by: admin") {
		t.Errorf("devices.yaml after revoking:\n%s", data)
	}
	// zhaolei's phone synced without being registered: proposed. The
	// revoked phone synced too, and is not.
	b.visit("/devices")
	if got := b.text("#proposals table"); !strings.Contains(got, "zhaolei") || !strings.Contains(got, "UNKNOWN5555") || strings.Contains(got, "3B6F9E2C1A7D4E58") {
		t.Errorf("proposals: %q", got)
	}
	b.screenshot("devices")
	code, body := v.call(t, "GET", "/api/v1/devices/proposals", "")
	if code != 200 || !strings.Contains(string(body), `"user":"zhaolei","device":"UNKNOWN5555","type":"iPhone","logins":1`) {
		t.Errorf("GET /api/v1/devices/proposals: %d %s", code, body)
	}
	b.do(
		chromedp.Click(chromedp.CSS(`#proposals form[action="/devices"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := b.text("#registry"); !strings.Contains(got, "UNKNOWN5555") || !strings.Contains(got, "proposed after successful logins (1)") {
		t.Errorf("registered from the proposal: %q", got)
	}
	b.visit("/devices")
	if got := b.text("#proposals"); !strings.Contains(got, "No unregistered device logged in") {
		t.Errorf("proposals after registering: %q", got)
	}

	// Disable a rule from the table.
	b.visit("/rules")
	b.do(
		yes,
		chromedp.Click(chromedp.CSS(`form[action="/rules/web-scanner/enabled"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := b.text(`form[action="/rules/web-scanner/enabled"] button`); got != "Enable" {
		t.Errorf("web-scanner's toggle says %q after disabling", got)
	}
	code, body = v.call(t, "GET", "/api/v1/rules/web-scanner", "")
	if code != 200 || !strings.Contains(string(body), `"enabled":false`) || !strings.Contains(string(body), `"changed_by":"admin"`) {
		t.Errorf("web-scanner after disabling: %d %s", code, body)
	}
	b.screenshot("rules")

	b.visit("/rules/activesync-unregistered-device")
	if got := b.text("pre.source"); !strings.Contains(got, "device_registered(user.name, device.id)") {
		t.Errorf("rule text: %q", got)
	}
	b.screenshot("rule")

	b.switchLanguage("zh-CN")
	b.visit("/devices")
	if got := b.text("h1"); got != "设备" {
		t.Errorf("Chinese devices page title %q", got)
	}
	b.screenshot("devices-zh-CN")
	b.visit("/rules")
	b.screenshot("rules-zh-CN")
	b.visit("/lists/monitoring")
	b.screenshot("list-monitoring-zh-CN")
}
