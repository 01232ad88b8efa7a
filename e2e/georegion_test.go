package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ip2regionTestDB returns the ip2region test database
// (scripts/fetch-ip2region-testdb.sh), skipping the test without it
// (failing under VIGIL_TEST_STRICT).
func ip2regionTestDB(t *testing.T) string {
	t.Helper()
	return testDB(t, "VIGIL_IP2REGION_TESTDB", "/var/cache/vigil-test/ip2region.db", "scripts/fetch-ip2region-testdb.sh")
}

// Addresses of the ip2region test database and their places.
const (
	shenzhenUnicom  = "58.251.30.115"   // 中国|0|广东省|深圳市|联通
	guangzhouMobile = "103.21.178.1"    // 中国|0|广东省|广州市|移动
	beijingTelecom  = "218.30.118.6"    // 中国|0|北京|北京市|电信
	kunmingMobile   = "39.128.0.1"      // 中国|0|云南省|昆明市|移动
	nanningMobile   = "36.159.0.1"      // 中国|0|广西|南宁市|移动
	nanjingVPN      = "114.114.114.114" // 中国|0|江苏省|南京市|0
	googleDNS       = "8.8.8.8"         // 美国|0|0|0|Level3
)

// TestGeoRegionFields: with geoip.databases naming the ip2region test
// database (first) and the country database, events are stored with the
// place of their source address and found by it; private addresses get
// none; `vigil parse` and `vigil config check` read the same setting.
func TestGeoRegionFields(t *testing.T) {
	t.Parallel()
	r2r, mmdb := ip2regionTestDB(t), geoipTestDB(t)
	v := startVigil(t, vigilOpts{config: fmt.Sprintf(`
geoip:
  databases:
    - path: %s
      type: ip2region
    - path: %s
`, r2r, mmdb)})
	defer v.stop(t)
	user := token("geo")
	now := time.Now()
	sendTCP(t, v.syslogAddr,
		[]byte(imapLine(now.Add(-3*time.Minute), shenzhenUnicom, user, true)+"\n"),
		[]byte(imapLine(now.Add(-2*time.Minute), googleDNS, user, true)+"\n"),
		[]byte(imapLine(now.Add(-1*time.Minute), "10.1.2.3", user, true)+"\n"))
	v.waitEvents(t, "user.name:"+user, 3)

	ev := v.waitOne(t, "user.name:"+user+" source.geo.region_name:广东")
	checkFields(t, ev, map[string]string{"source.ip": shenzhenUnicom, "source.geo.country_iso_code": "CN",
		"source.geo.region_name": "广东", "source.geo.city_name": "深圳", "source.as.organization.name": "联通"})
	us := v.waitOne(t, "user.name:"+user+" source.geo.country_iso_code:US")
	checkFields(t, us, map[string]string{"source.ip": googleDNS, "source.as.organization.name": "Level3"})
	if _, ok := us["source.geo.region_name"]; ok {
		t.Errorf("8.8.8.8 has a region: %v", us)
	}
	private := v.waitOne(t, "user.name:"+user+" source.ip:10.1.2.3")
	for k := range private {
		if strings.HasPrefix(k, "source.geo.") || strings.HasPrefix(k, "source.as.") {
			t.Errorf("a private address got %s: %v", k, private)
		}
	}
	if n, err := v.count("user.name:" + user + " source.geo.region_name:北京"); err != nil || n != 0 {
		t.Errorf("source.geo.region_name:北京 found %d events (%v), want 0", n, err)
	}

	// The status lists the databases in service, in lookup order.
	geo, _ := v.status(t)["geoip"].(map[string]any)
	dbs, _ := geo["databases"].([]any)
	if len(dbs) != 2 {
		t.Fatalf("status geoip.databases = %v, want the two files", geo)
	}
	first, _ := dbs[0].(map[string]any)
	second, _ := dbs[1].(map[string]any)
	if first["path"] != r2r || first["format"] != "ip2region" || first["size_bytes"].(float64) <= 0 ||
		second["path"] != mmdb || second["format"] != "mmdb" {
		t.Errorf("status geoip.databases = %v, want %s (ip2region) then %s (mmdb)", dbs, r2r, mmdb)
	}

	// vigil parse places addresses with the same configuration.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("geoip:\n  databases: [{path: "+r2r+"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "imap.log")
	if err := os.WriteFile(log, []byte(imapLine(now, beijingTelecom, "lisi", true)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runVigil(t, "parse", "--config", cfg, log)
	if code != 0 || !strings.Contains(out, `"source.geo.region_name":"北京"`) || !strings.Contains(out, `"source.as.organization.name":"电信"`) {
		t.Errorf("vigil parse: exit %d, stderr %q, stdout %s", code, stderr, out)
	}

	// vigil config check opens each database as its type.
	if err := os.WriteFile(cfg, []byte("geoip:\n  databases:\n    - {path: "+r2r+"}\n    - {path: "+r2r+"x, type: ip2region}\n    - {path: "+r2r+", type: mmdb}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = runVigil(t, "config", "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, cfg+":4: geoip.databases[1].path: open "+r2r+"x: no such file") ||
		!strings.Contains(out, cfg+":5: geoip.databases[2].path: open "+r2r+": ") {
		t.Errorf("vigil config check: exit %d, stdout\n%s", code, out)
	}
}

// TestLoginNewRegion: the built-in rule login-new-region in a real
// server with the ip2region test database. An account logs in from
// Guangdong for three weeks (the rule learns for two); then through the
// VPN, whose egress in Jiangsu is on the office list: no alert; then from
// Guangxi over China Mobile, next to Guangdong: carrier drift, no alert;
// then from Yunnan: one alert naming the user, the address, the new and
// the known province. The login is stored with its province.
func TestLoginNewRegion(t *testing.T) {
	t.Parallel()
	r2r := ip2regionTestDB(t)
	dir := t.TempDir()
	listsDir := filepath.Join(dir, "lists")
	if err := os.Mkdir(listsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(listsDir, "office.txt"),
		[]byte("# kind: ip\n# role: plain\n114.114.114.0/24  # VPN egress, Nanjing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := startVigil(t, vigilOpts{config: fmt.Sprintf(`
geoip:
  databases: [{path: %s}]
detect:
  lists_dir: %s
`, r2r, listsDir)})
	defer v.stop(t)
	user := token("lnr")
	now := time.Now()
	var lines [][]byte
	for d := 21; d >= 1; d-- {
		ip := shenzhenUnicom
		if d%2 == 0 {
			ip = guangzhouMobile
		}
		lines = append(lines, []byte(imapLine(now.Add(-time.Duration(d)*24*time.Hour), ip, user, true)+"\n"))
	}
	lines = append(lines,
		[]byte(imapLine(now.Add(-30*time.Minute), nanjingVPN, user, true)+"\n"),
		[]byte(imapLine(now.Add(-20*time.Minute), nanningMobile, user, true)+"\n"),
		[]byte(imapLine(now.Add(-10*time.Minute), kunmingMobile, user, true)+"\n"))
	sendTCP(t, v.syslogAddr, lines...)

	a := v.waitAlert(t, "rule.id:login-new-region user.name:"+user)
	checkFields(t, a, map[string]string{"source.ip": kunmingMobile, "alert.fields.value": "云南", "alert.fields.known": "广东", "level": "medium"})
	for _, s := range []string{user, kunmingMobile, "云南", "昆明", "移动", "known provinces: 广东"} {
		if !strings.Contains(a["_msg"], s) {
			t.Errorf("the alert's message %q lacks %q", a["_msg"], s)
		}
	}
	// The office and the drift came first in the journal: had they
	// alerted, their alerts would be there by now.
	if n, err := v.countAlerts("user.name:" + user); err != nil || n != 1 {
		t.Errorf("%d alerts for %s (%v), want only login-new-region's", n, user, err)
	}
	ev := v.waitOne(t, "user.name:"+user+" source.geo.region_name:云南")
	checkFields(t, ev, map[string]string{"source.ip": kunmingMobile, "source.geo.city_name": "昆明", "source.as.organization.name": "移动"})
	v.waitOne(t, "user.name:"+user+" source.geo.region_name:江苏") // the VPN login: stored, placed, not alerted
}
