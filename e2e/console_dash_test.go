package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// dashFixture starts vigil with a device registry (zhangwei's PHONE1) and
// sends it a mail-service morning over syslog: zhangwei's phone failing
// with an old password over ActiveSync, an unregistered tablet syncing,
// EWS password guessing from six addresses, and zhangwei's lockout
// (Windows 4740). Event times are relative to the wall clock, as the
// store keeps its retention by it.
func dashFixture(t *testing.T) *vigil {
	t.Helper()
	dir := t.TempDir()
	lists := filepath.Join(dir, "lists")
	if err := os.MkdirAll(lists, 0o700); err != nil {
		t.Fatal(err)
	}
	reg := "name: devices\nkind: device\nrole: plain\nentries:\n  - user: zhangwei\n    device: PHONE1\n    note: iPhone\n"
	if err := os.WriteFile(filepath.Join(lists, "devices.yaml"), []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	v := startVigil(t, vigilOpts{syslogPort: -1, config: fmt.Sprintf(
		"inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\n      timezone: UTC\ndetect:\n  lists_dir: %s\nconsole:\n  timezone: Asia/Shanghai\n", port, lists)})
	v.syslogAddr = fmt.Sprintf("127.0.0.1:%d", port)

	now := time.Now().UTC()
	nginx := func(at time.Time, ip, user string, status int, uri string) []byte {
		msg := fmt.Sprintf(`{"source":"192.168.0.8","ip":%q,"user":%q,"time_local":%q,"statuscode":%d,"bytes_sent":153,"http_referer":"","http_user_agent":"Apple-iPhone/1","request_uri":%q,"request_time":0.004}`,
			ip, user, at.Format("02/Jan/2006:15:04:05 -0700"), status, uri)
		return octetCounted(rfc5424(190, "fe1", "nginx", msg))
	}
	var data [][]byte
	for i := range 20 {
		data = append(data, nginx(now.Add(-time.Duration(5*i+1)*time.Minute), "203.0.113.7", "zhangwei", 401,
			"/Microsoft-Server-ActiveSync?Cmd=Ping&User=zhangwei&DeviceId=PHONE1&DeviceType=iPhone"))
	}
	for i := range 3 {
		data = append(data, nginx(now.Add(-time.Duration(10*i+2)*time.Minute), "192.0.2.10", "zhangwei", 200,
			"/Microsoft-Server-ActiveSync?Cmd=Sync&User=zhangwei&DeviceId=TABLET9&DeviceType=iPad"))
	}
	for i := range 12 {
		user := []string{"zhangwei", "lili"}[i%2]
		data = append(data, nginx(now.Add(-40*time.Minute+time.Duration(i)*time.Second), fmt.Sprintf("198.51.100.%d", 1+i/2), user, 401, "/EWS/Exchange.asmx"))
	}
	lock := fmt.Sprintf(`{"EventTime":%q,"Hostname":"DC01.corp.example","EventID":4740,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","Message":"A user account was locked out.","TargetUserName":"zhangwei","TargetDomainName":"EXCH01","SubjectUserName":"DC01$","SubjectDomainName":"CORP"}`,
		now.Add(-30*time.Minute).Format("2006-01-02 15:04:05"))
	data = append(data, octetCounted(rfc5424(110, "dc01", "nxlog", lock)))
	sendTCP(t, v.syslogAddr, data...)
	v.waitEvents(t, `event.action:="account-locked"`, 1)
	v.waitEvents(t, `event.outcome:failure`, 32)
	return v
}

// noonZone returns an Etc/GMT zone in which now is between 10:00 and
// 14:00, so that "today" holds the last hours whenever the test runs.
func noonZone(now time.Time) string {
	for off := -12; off <= 12; off++ {
		if h := now.UTC().Add(time.Duration(off) * time.Hour).Hour(); h >= 10 && h <= 14 {
			// Etc/GMT-8 is UTC+8.
			if off > 0 {
				return fmt.Sprintf("Etc/GMT-%d", off)
			}
			return fmt.Sprintf("Etc/GMT+%d", -off)
		}
	}
	return "UTC"
}

func getJSON(t *testing.T, v *vigil, path string, into any) {
	t.Helper()
	code, body, err := v.get(path, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

type dashOverview struct {
	TopAccounts []struct {
		User     string
		Failures int
		Sources  int
	} `json:"top_accounts"`
	TopSources []struct {
		IP       string
		Failures int
	} `json:"top_sources"`
	Lockouts struct {
		Users []struct{ User string }
	}
	Unregistered []struct{ ID, User string } `json:"unregistered_devices"`
	Registry     bool
	Health       *struct {
		IndexLag int `json:"index_lag_records"`
	}
	Errors map[string]string
}

type dashEntity struct {
	Failures []struct {
		Protocol   string
		DeviceID   string `json:"device_id"`
		SourceIP   string `json:"source_ip"`
		Registered bool
		Count      int
	}
	Lockouts []struct{ Host string }
	Devices  []struct {
		ID         string
		Registered bool
	}
	Alerts []struct {
		RuleID string `json:"rule_id"`
	}
	Hint   string
	Errors map[string]string
}

// TestDashAPI: the overview names zhangwei as the top failing account,
// today's lockout and the unregistered tablet; zhangwei's page puts the
// lockout beside the registered phone that fails, and the alert.
func TestDashAPI(t *testing.T) {
	v := dashFixture(t)
	tz := url.QueryEscape(noonZone(time.Now()))
	var ov dashOverview
	getJSON(t, v, "/api/v1/overview?range=24h&tz="+tz, &ov)
	if len(ov.Errors) != 0 || len(ov.TopAccounts) == 0 || ov.TopAccounts[0].User != "zhangwei" || ov.TopAccounts[0].Failures != 26 {
		t.Errorf("top accounts %+v (errors %v), want zhangwei with 26 failures", ov.TopAccounts, ov.Errors)
	}
	if len(ov.TopSources) == 0 || ov.TopSources[0].IP != "203.0.113.7" || ov.TopSources[0].Failures != 20 {
		t.Errorf("top sources %+v", ov.TopSources)
	}
	if len(ov.Lockouts.Users) != 1 || ov.Lockouts.Users[0].User != "zhangwei" {
		t.Errorf("lockouts today %+v", ov.Lockouts)
	}
	if !ov.Registry || len(ov.Unregistered) != 1 || ov.Unregistered[0].ID != "TABLET9" {
		t.Errorf("unregistered devices %+v (registry %v)", ov.Unregistered, ov.Registry)
	}
	if ov.Health == nil {
		t.Error("no pipeline health")
	}

	// The alert of the lockout reaches the store within seconds.
	var e dashEntity
	deadline := time.Now().Add(30 * time.Second)
	for {
		getJSON(t, v, "/api/v1/entities/user/ZhangWei?start=24h&tz="+tz, &e)
		if len(e.Alerts) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(e.Errors) != 0 || len(e.Failures) == 0 || e.Failures[0].DeviceID != "PHONE1" || !e.Failures[0].Registered ||
		e.Failures[0].Count != 20 || e.Failures[0].Protocol != "activesync" {
		t.Errorf("failures %+v (errors %v), want the registered PHONE1 first with 20", e.Failures, e.Errors)
	}
	if len(e.Lockouts) != 1 {
		t.Errorf("lockouts %+v", e.Lockouts)
	}
	reg := map[string]bool{}
	for _, d := range e.Devices {
		reg[d.ID] = d.Registered
	}
	if len(reg) != 2 || !reg["PHONE1"] || reg["TABLET9"] {
		t.Errorf("devices %+v", e.Devices)
	}
	rules := map[string]bool{}
	for _, a := range e.Alerts {
		rules[a.RuleID] = true
	}
	if !rules["account-locked-out"] {
		t.Errorf("alerts %+v, want account-locked-out", e.Alerts)
	}
	if code, _, _ := v.get("/api/v1/entities/user/zhangwei", false); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	var d dashEntity
	getJSON(t, v, "/api/v1/entities/device/PHONE1?start=24h", &d)
	if d.Hint != "stale_device" {
		t.Errorf("PHONE1's hint %q, want stale_device", d.Hint)
	}
}

// TestBrowserDash logs in, sees the overview, opens zhangwei's page from
// the top failing accounts, and saves screenshots of the overview (in
// English and Chinese), a user, an address and a device page.
func TestBrowserDash(t *testing.T) {
	v := dashFixture(t)
	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	b.visit("/")
	acc := `section[aria-labelledby="h-acc"] a[href="/entity/user/zhangwei"]`
	b.do(chromedp.WaitVisible(chromedp.CSS(acc)))
	if h := b.text("h1"); h != "Mail service overview" {
		t.Errorf("overview heading %q", h)
	}
	b.screenshot("dash-overview")
	b.do(chromedp.Click(chromedp.CSS(acc)), chromedp.WaitVisible(chromedp.CSS(`section[aria-labelledby="h-fsrc"]`)))
	if loc := b.location(); loc != "/entity/user/zhangwei" {
		t.Errorf("the top failing account's link went to %s", loc)
	}
	if h := b.text("h1"); !strings.Contains(h, "zhangwei") {
		t.Errorf("entity heading %q", h)
	}
	if txt := b.text(`section[aria-labelledby="h-fsrc"] tbody tr`); !strings.Contains(txt, "PHONE1") || !strings.Contains(txt, "registered") {
		t.Errorf("first failure group %q: want the registered PHONE1", txt)
	}
	b.screenshot("dash-user")
	b.visit("/entity/ip/198.51.100.1")
	b.screenshot("dash-ip")
	b.visit("/entity/device/PHONE1")
	if txt := b.text(".dash-hint"); !strings.Contains(txt, "PHONE1") {
		t.Errorf("device hint %q", txt)
	}
	b.screenshot("dash-device")
	b.visit("/")
	b.switchLanguage("zh-CN")
	if h := b.text("h1"); h != "邮件服务概览" {
		t.Errorf("Chinese overview heading %q", h)
	}
	b.screenshot("dash-overview-zh")
	b.visit("/entity/user/zhangwei")
	b.screenshot("dash-user-zh")
}
