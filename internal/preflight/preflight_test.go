package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-soc/vigil/internal/config"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	td, err := filepath.Abs("testdata") // a.crt, a.key, b.crt, b.key: self-signed, valid 2000 to 9999
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules")
	write(t, filepath.Join(rules, "mine.yaml"), "id: my-rule\ntitle: Mine\ntype: match\nmatch: {event.outcome: failure}\n")
	broken := filepath.Join(dir, "broken")
	write(t, filepath.Join(broken, "bad.yaml"), "id: bad-rule\ntitle: B\ntype: match\nwhen: 'http.response.status_code == \"401\"'\n")
	write(t, filepath.Join(dir, "notes.txt"), "not a certificate\n")
	write(t, filepath.Join(dir, "country.mmdb"), "not a database\n")

	tests := []struct {
		name, yaml string
		want       []string // lines; DIR stands for the temporary folder, TD for testdata
	}{
		{"defaults", "", nil},
		{"unknown rule id", "detect:\n  disable:\n    - web-scanner\n    - brute-forse\n", []string{
			`FILE:4: detect.disable: unknown rule id "brute-forse" (did you mean brute-force-source?)`}},
		{"user rule id", "detect:\n  rules_dir: DIR/rules\n  disable: [my-rule, my-rul]\n", []string{
			`FILE:3: detect.disable: unknown rule id "my-rul" (did you mean my-rule?)`}},
		{"missing rules_dir", "detect:\n  rules_dir: DIR/nothing\n", []string{
			"FILE:2: detect.rules_dir: directory DIR/nothing does not exist"}},
		{"broken rule file", "detect:\n  rules_dir: DIR/broken\n", []string{
			"FILE:2: detect.rules_dir: DIR/broken/bad.yaml: rule bad-rule: when: "}},
		{"detection off", "detect:\n  enabled: false\n  rules_dir: DIR/nothing\n  disable: [nosuch]\n", nil},
		{"lists_dir is a file", "detect:\n  lists_dir: DIR/notes.txt\n", []string{
			"FILE:2: detect.lists_dir: DIR/notes.txt is not a directory"}},
		{"bad geoip", "detect:\n  geoip: DIR/country.mmdb\n", []string{"FILE:2: detect.geoip: open DIR/country.mmdb: neither a MaxMind DB nor an ip2region database"}},
		{"bad geoip database", "geoip:\n  databases:\n    - path: DIR/none.xdb\n    - {path: DIR/country.mmdb, type: mmdb}\n", []string{
			"FILE:3: geoip.databases[0].path: open DIR/none.xdb: no such file or directory",
			"FILE:4: geoip.databases[1].path: open DIR/country.mmdb: "}},
		{"geoip with detection off", "detect:\n  enabled: false\n  geoip: DIR/none.mmdb\n", []string{"FILE:3: detect.geoip: open DIR/none.mmdb: no such file"}},
		{"good key pair", "http:\n  cert_file: TD/a.crt\n  key_file: TD/a.key\n", nil},
		{"key of another certificate", "http:\n  cert_file: TD/a.crt\n  key_file: TD/b.key\n", []string{
			"FILE:1: http: cert_file TD/a.crt and key_file TD/b.key: tls: private key does not match public key"}},
		{"missing key", "inputs:\n  syslog:\n    - tls: {addr: '127.0.0.1:6514', cert_file: TD/a.crt, key_file: DIR/none.key}\n", []string{
			"FILE:3: inputs.syslog[0].tls.key_file: open DIR/none.key: no such file or directory"}},
		{"CA file without certificates", "outputs:\n  syslog:\n    - {name: o, address: 'h:1', transport: tls, ca_file: DIR/notes.txt}\n", []string{
			"FILE:3: outputs.syslog[0].ca_file: DIR/notes.txt holds no PEM certificate"}},
		{"kafka password file", "inputs:\n  kafka:\n    - brokers: ['k:9092']\n      topics: [t]\n      sasl: {mechanism: plain, username: u, password_file: DIR/none}\n", []string{
			"FILE:5: inputs.kafka[0].sasl.password_file: open DIR/none: no such file or directory"}},
		{"all kinds together, in line order", "log:\n  level: loud\ndetect:\n  disable: [nosuch]\n  rule_dir: x\n", []string{
			`FILE:2: log.level: "loud" is not one of debug, info, warn, error`,
			`FILE:4: detect.disable: unknown rule id "nosuch"`,
			"FILE:5: detect.rule_dir: unknown key (did you mean rules_dir?)"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.yaml != "" {
				file = filepath.Join(dir, "vigil"+string(rune('a'+i))+".yaml")
				write(t, file, strings.NewReplacer("DIR", dir, "TD", td).Replace(tt.yaml))
			}
			_, err := Load(file, nil)
			var got []string
			if err != nil {
				ps, ok := err.(config.Problems)
				if !ok {
					t.Fatalf("error %v is not a config.Problems", err)
				}
				for _, p := range ps {
					got = append(got, p.String())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for j, w := range tt.want {
				w = strings.NewReplacer("FILE", file, "DIR", dir, "TD", td).Replace(w)
				if !strings.HasPrefix(got[j], w) {
					t.Errorf("problem %d:\n got %s\nwant %s...", j, got[j], w)
				}
			}
		})
	}
}

// TestRuleFilesTolerated: a rule file that does not load is a problem
// for vigil config check, but not one that stops vigil serve (which runs
// without it, as when a file breaks while it runs).
func TestRuleFilesTolerated(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "rules", "bad.yaml"), "id: bad\ntitle: B\ntype: threshold\n")
	file := filepath.Join(dir, "vigil.yaml")
	write(t, file, "detect:\n  rules_dir: "+filepath.Join(dir, "rules")+"\n  disable: [nosuch]\n")
	_, err := Load(file, nil)
	ps, _ := err.(config.Problems)
	if len(ps) != 2 || !ps[0].Tolerated || ps[1].Tolerated || len(ps.Fatal()) != 1 {
		t.Fatalf("got %#v", ps)
	}
}

// TestLoadOverride: the override (vigil serve's flags) applies before the
// checks.
func TestLoadOverride(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vigil.yaml")
	write(t, file, "http:\n  addr: nowhere\n")
	if _, err := Load(file, nil); err == nil {
		t.Fatal("bad http.addr accepted")
	}
	cfg, err := Load(file, func(c *config.Config) { c.HTTP.Addr = "127.0.0.1:1" })
	if err != nil || cfg.HTTP.Addr != "127.0.0.1:1" {
		t.Fatalf("override: %v, %s", err, cfg.HTTP.Addr)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), nil); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("missing file: %v", err)
	}
}
