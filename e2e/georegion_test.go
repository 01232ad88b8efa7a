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
	path := os.Getenv("VIGIL_IP2REGION_TESTDB")
	if path == "" {
		path = "/var/cache/vigil-test/ip2region.db"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" || os.Getenv("CI") != "" {
			t.Fatalf("no ip2region test database (scripts/fetch-ip2region-testdb.sh): %v", err)
		}
		t.Skipf("no ip2region test database (scripts/fetch-ip2region-testdb.sh): %v", err)
	}
	return path
}

// Addresses of the ip2region test database and their places.
const (
	shenzhenUnicom = "58.251.30.115" // 中国|0|广东省|深圳市|联通
	beijingTelecom = "218.30.118.6"  // 中国|0|北京|北京市|电信
	googleDNS      = "8.8.8.8"       // 美国|0|0|0|Level3
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
