package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/charset"
)

func TestDefaultIsValidAndLoopback(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.HTTP.Addr, "127.0.0.1:") || !strings.HasPrefix(cfg.Inputs.Syslog[0].Addr, "127.0.0.1:") {
		t.Fatalf("defaults must listen on loopback: http %s syslog %s", cfg.HTTP.Addr, cfg.Inputs.Syslog[0].Addr)
	}
	if cfg.Journal.Fsync != "interval" || !cfg.Journal.CompressEnabled() || cfg.Journal.CompressLevel != "fastest" {
		t.Fatalf("unexpected journal defaults %+v", cfg.Journal)
	}
	// The journal stops before the store's own guard runs out, leaving it
	// room to flush (docs/durability.md).
	if cfg.Journal.MinFreeDisk != 512<<20 || cfg.Journal.MinFreeDisk >= cfg.Store.MinFreeDisk {
		t.Fatalf("journal.min_free_disk %s with store.min_free_disk %s", cfg.Journal.MinFreeDisk, cfg.Store.MinFreeDisk)
	}
	if cfg.MemoryTarget != 384<<20 {
		t.Fatalf("memory_target %s, want 384MiB", cfg.MemoryTarget)
	}
	in := cfg.Inputs.Syslog[0]
	if in.IdleTimeoutValue() != 5*time.Minute || in.MaxConnections != 1000 || in.TLS.MaxConnections != 1000 || in.MaxConnectionsPerAddress != 100 {
		t.Fatalf("unexpected input defaults %+v", in)
	}
}

func TestLoadFull(t *testing.T) {
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Inputs.Syslog[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, "/var/lib/vigil"},
		{"memory_target", cfg.MemoryTarget, ByteSize(1 << 30)},
		{"max_message_size", p.MaxMessageSize, ByteSize(128 << 10)},
		{"udp", p.UDPEnabled(), true},
		{"tcp", p.TCPEnabled(), false},
		{"idle_timeout", p.IdleTimeoutValue(), 10 * time.Minute},
		{"idle_timeout 0 is never", cfg.Inputs.Syslog[1].IdleTimeoutValue(), time.Duration(-1)},
		{"max_connections_per_address", p.MaxConnectionsPerAddress, 20},
		{"max_buffer_memory", p.MaxBufferMemory, ByteSize(64 << 20)},
		{"tls.max_connections", cfg.Inputs.Syslog[1].TLS.MaxConnections, 300},
		{"second input defaults", cfg.Inputs.Syslog[1].MaxConnections, 1000},
		{"second input default per address", cfg.Inputs.Syslog[1].MaxConnectionsPerAddress, 100},
		{"second input default buffer memory", cfg.Inputs.Syslog[1].MaxBufferMemory, ByteSize(256 << 20)},
		{"journal.min_free_disk", cfg.Journal.MinFreeDisk, ByteSize(2 << 30)},
		{"segment_size", cfg.Journal.SegmentSize, ByteSize(128 << 20)},
		{"max_age", cfg.Journal.MaxAge.D(), 90 * 24 * time.Hour},
		{"compress", cfg.Journal.CompressEnabled(), false},
		{"compress_level", cfg.Journal.CompressLevel, "better"},
		{"retention", cfg.Store.Retention.D(), 14 * 24 * time.Hour},
		{"max_disk_size", cfg.Store.MaxDiskSize, ByteSize(1 << 40)},
		{"kept default", cfg.Store.FutureLimit.D(), 24 * time.Hour},
		{"metrics_auth", cfg.HTTP.MetricsAuth, true},
		{"kafka name", cfg.Inputs.Kafka[0].Name, "kafka"},
		{"output", cfg.Outputs.Syslog[0].Payload, "json"},
		{"kafka output", cfg.Outputs.Kafka[0].Topic, "vigil-events"},
		{"kafka topic", cfg.Inputs.Kafka[0].Topics[0], "nginx-access"},
		{"detect on", cfg.Detect.On(), true},
		{"builtin off", cfg.Detect.BuiltinOn(), false},
		{"disable", cfg.Detect.Disable[0], "web-scanner"},
		{"lateness", cfg.Detect.Lateness.D(), 5 * time.Minute},
		{"max_clock_skew default", cfg.Detect.MaxClockSkew.D(), 5 * time.Minute},
		{"rules_dir", cfg.Detect.RulesDir, "/etc/vigil/rules"},
		{"alert syslog", cfg.Alerts.Syslog[0].Address, "siem.corp.example:6514"},
		{"alert webhook", cfg.Alerts.Webhooks[0].Headers["Authorization"], "Bearer x"},
		{"alert smtp", cfg.Alerts.SMTP[0].To[0], "soc@corp.example"},
		{"chat webhook", cfg.Alerts.Webhooks[1].Format, "dingtalk"},
		{"external_url", cfg.HTTP.ExternalURL, "https://vigil.corp.example/"},
		{"enforce enabled", cfg.Enforce.Enabled, true},
		{"enforce devices off", cfg.Enforce.Devices, "off"},
		{"enforce cap default", cfg.Enforce.MaxActiveBans, 10000},
		{"enforce own network", fmt.Sprint(must(cfg.Enforce.Networks())), "[198.51.100.0/24 203.0.113.5/32]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestInvalid: each problem is one line naming the key (and the line of
// the text), with no Go or YAML type names.
func TestInvalid(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "journal:\n  fsynk: always\n", "line 2: journal.fsynk: unknown key (did you mean fsync?)"},
		{"unknown key in a list", "inputs:\n  syslog:\n    - adr: 127.0.0.1:1\n", "line 3: inputs.syslog[0].adr: unknown key (did you mean addr?)"},
		{"unknown key far from any", "journal:\n  colour: red\n", "line 2: journal.colour: unknown key"},
		{"unknown top-level key", "output: {}\n", "line 1: output: unknown key (did you mean outputs?)"},
		{"memory target without unit", "memory_target: 384\n", "line 1: memory_target: 384B is too little: 0 (the Go runtime's defaults) or at least 64MiB (sizes take a unit: 384MiB)"},
		{"detect lateness", "detect:\n  lateness: 2d\n", "line 2: detect.lateness: 2d is outside 0..1d"},
		{"max clock skew beyond future limit", "detect:\n  max_clock_skew: 1d\n", "line 2: detect.max_clock_skew: 1d is outside 1s..store.future_limit (1d)"},
		{"max clock skew zero", "detect:\n  max_clock_skew: 0s\n", "line 2: detect.max_clock_skew: 0s is outside 1s..store.future_limit (1d)"},
		{"detect mode", "detect:\n  mode: cluster\n", `line 2: detect.mode: "cluster" is not local or kafka`},
		{"detect kafka without brokers", "detect:\n  mode: kafka\n", "line 1: detect.kafka: brokers: at least one host:port is required"},
		{"detect kafka topics alike", "detect:\n  mode: kafka\n  kafka:\n    brokers: [k:9092]\n    topic: t\n    alerts_topic: t\n", `line 3: detect.kafka: alerts_topic: "t" is also topic`},
		{"alert channel", "alerts:\n  webhooks:\n    - url: ftp://x\n", `line 3: alerts.webhooks[0]: url: scheme "ftp": want http or https`},
		{"unknown detect key", "detect:\n  rule_dir: /x\n", "line 2: detect.rule_dir: unknown key (did you mean rules_dir?)"},
		{"output without name", "outputs:\n  syslog:\n    - address: h:1\n", "line 3: outputs.syslog[0]: name is required"},
		{"output twice", "outputs:\n  syslog:\n    - {name: a, address: h:1}\n    - {name: a, address: h:2}\n", `line 4: outputs.syslog[1].name: "a" is used twice`},
		{"kafka without brokers", "inputs:\n  kafka:\n    - topics: [t]\n", `line 3: inputs.kafka[0]: kafka input "kafka": brokers: at least one host:port is required`},
		{"kafka name clash", "inputs:\n  kafka:\n    - name: syslog\n      brokers: [k:9092]\n      topics: [t]\n", `line 3: inputs.kafka[0].name: "syslog" is used twice`},
		{"kafka format", "inputs:\n  kafka:\n    - {brokers: [k:9092], topics: [t], format: ngnix}\n", `line 3: inputs.kafka[0].format: unknown format "ngnix"`},
		{"syslog format", "inputs:\n  syslog:\n    - format: ngnix\n", `line 3: inputs.syslog[0].format: unknown format "ngnix"`},
		{"syslog charset", "inputs:\n  syslog:\n    - charset: gb2312\n", `line 3: inputs.syslog[0].charset: unknown charset "gb2312" (known: utf-8, gbk, gb18030, big5)`},
		{"kafka charset", "inputs:\n  kafka:\n    - {brokers: [k:9092], topics: [t], charset: latin1}\n", `line 3: inputs.kafka[0].charset: unknown charset "latin1"`},
		{"fsync policy", "journal:\n  fsync: sometimes\n", `line 2: journal.fsync: "sometimes" is not one of interval, always, never`},
		{"bad size", "journal:\n  segment_size: lots\n", `line 2: journal.segment_size: "lots" is not a size (e.g. 64MiB, 1GiB)`},
		{"tiny segment", "journal:\n  segment_size: 10KiB\n", "line 2: journal.segment_size: 10KiB is below 1MiB"},
		{"compress level", "journal:\n  compress_level: max\n", `line 2: journal.compress_level: "max" is not one of fastest, default, better, best`},
		{"bad duration", "store:\n  retention: 3 days\n", `line 2: store.retention: "3 days" is not a duration (e.g. 72h, 3d)`},
		{"short retention", "store:\n  retention: 2h\n", "line 2: store.retention: 2h0m0s is below the store's minimum of 1d"},
		{"bad number", "http:\n  max_search_limit: many\n", `line 2: http.max_search_limit: "many" is not a whole number`},
		{"bad bool", "journal:\n  compress: maybe\n", `line 2: journal.compress: "maybe" is not true or false`},
		{"list for a value", "log:\n  level: [info]\n", "line 2: log.level: wants text, not a list"},
		{"value for a list", "detect:\n  disable: web-scanner\n", `line 2: detect.disable: "web-scanner" is not a list`},
		{"value for keys", "journal: fast\n", `line 1: journal: "fast" is not keys with values (key: value)`},
		{"list for keys", "store:\n  - retention: 2d\n", "line 2: store: wants keys with values (key: value), not a list"},
		{"key given twice", "log:\n  level: info\n  level: debug\n", "line 3: log.level: given twice (first on line 2)"},
		{"syntax", "log:\n  level: info\n level: x\n", "line 2: not valid YAML: did not find expected key"},
		{"addr without port", "http:\n  addr: localhost\n", "line 2: http.addr: address localhost: missing port in address"},
		{"tls without cert", "inputs:\n  syslog:\n    - name: t\n      tls:\n        addr: 127.0.0.1:6514\n", "line 4: inputs.syslog[0].tls: cert_file and key_file are required with tls.addr"},
		{"duplicate input", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1'}\n    - {name: a, addr: '127.0.0.1:2'}\n", `line 4: inputs.syslog[1].name: "a" is used twice`},
		{"second input without addr", "inputs:\n  syslog:\n    - {}\n    - {name: b}\n", "line 4: inputs.syslog[1]: needs addr or tls.addr"},
		{"bad timezone", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1', timezone: Mars/Base}\n", "line 3: inputs.syslog[0].timezone: unknown time zone Mars/Base"},
		{"short token", "http:\n  tokens: [\"0123456789abcdef\", short]\n", "line 2: http.tokens[1]: a token of 5 characters; at least 16 are needed"},
		{"log level", "log:\n  level: loud\n", `line 2: log.level: "loud" is not one of debug, info, warn, error`},
		{"not a file of keys", "- a\n- b\n", "line 1: wants keys with values (key: value), not a list"},
		{"negative search cap", "http:\n  max_concurrent_searches: -1\n", "line 2: http.max_concurrent_searches: -1 is negative (0 picks a number from the CPUs)"},
		{"buffer memory", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1', max_message_size: 16MiB, max_buffer_memory: 16MiB}\n", "line 3: inputs.syslog[0].max_buffer_memory: 16MiB is less than twice max_message_size (16MiB)"},
		{"incident window", "console:\n  incident_window: 48h\n", "line 2: console.incident_window: must be more than 0 and at most 24h"},
		{"external url relative", "http:\n  external_url: vigil.corp.example\n", `line 2: http.external_url: "vigil.corp.example": want an absolute http or https URL`},
		{"external url with query", "http:\n  external_url: https://vigil.corp.example/?a=b\n", `line 2: http.external_url: "https://vigil.corp.example/?a=b": must not have a query or fragment`},
		{"external url with password", "http:\n  external_url: https://u:p@vigil.corp.example\n", `line 2: http.external_url: "https://u:p@vigil.corp.example": must not hold a user name or password`},
		{"chat format", "alerts:\n  webhooks:\n    - {url: 'https://x', format: slack}\n", `line 3: alerts.webhooks[0]: format "slack": want json, dingtalk, wecom or feishu`},
		{"secret for json", "alerts:\n  webhooks:\n    - {url: 'https://x', secret: SECx}\n", `line 3: alerts.webhooks[0]: secret: only dingtalk and feishu robots sign their requests, not format "json"`},
		{"geoip database without path", "geoip:\n  databases:\n    - type: mmdb\n", "line 3: geoip.databases[0].path: is required"},
		{"geoip database twice", "geoip:\n  databases:\n    - path: /a\n    - path: /a\n", "line 4: geoip.databases[1].path: /a is listed twice"},
		{"geoip type", "geoip:\n  databases:\n    - {path: /a, type: qqwry}\n", `line 3: geoip.databases[0].type: "qqwry" is not one of auto, mmdb, ip2region`},
		{"geoip alias elsewhere", "geoip:\n  databases: [{path: /a}]\ndetect:\n  geoip: /b\n", "line 4: detect.geoip: /b is not in geoip.databases: detect.geoip is the older name"},
		{"enforce own network", "enforce:\n  own_networks: [198.51.100.0/24, corp]\n", `line 2: enforce.own_networks[1]: "corp" is not an address or CIDR range`},
		{"enforce devices", "enforce:\n  devices: strict\n", `line 2: enforce.devices: "strict" is not one of off, learn, registered-only`},
		{"enforce cap", "enforce:\n  max_active_bans: -1\n", "line 2: enforce.max_active_bans: -1 is negative (0: no cap)"},
		{"enforce history", "enforce:\n  history_retention: 10m\n", "line 2: enforce.history_retention: 10m0s is below 1h"},
		{"connection limit", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1', tls: {max_connections: -1}}\n", "line 3: inputs.syslog[0]: max_connections, tls.max_connections and max_connections_per_address must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(tt.yaml))
			ps, ok := asProblems(err)
			if !ok {
				t.Fatalf("got %v, want problems", err)
			}
			if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), tt.want) {
				t.Fatalf("got\n%v\nwant one problem starting with\n%s", err, tt.want)
			}
			for _, internal := range []string{"!!", "config.", "units.", "yaml:", "int64", "struct", "unmarshal"} {
				if strings.Contains(err.Error(), internal) {
					t.Errorf("message %q shows %q", err, internal)
				}
			}
		})
	}
}

// TestAllProblems: every problem of a file is reported, in line order,
// with the file name, and the rest of the file still applies.
func TestAllProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	text := `log:
  level: loud
inputs:
  syslog:
    - adr: 127.0.0.1:1
      max_connections: lots
store:
  retention: 3 days
  max_disk_size: 1TiB
journal:
  fsynk: always
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	want := []string{
		path + `:2: log.level: "loud" is not one of debug, info, warn, error`,
		path + ":5: inputs.syslog[0].adr: unknown key (did you mean addr?)",
		path + `:6: inputs.syslog[0].max_connections: "lots" is not a whole number`,
		path + `:8: store.retention: "3 days" is not a duration (e.g. 72h, 3d)`,
		path + ":11: journal.fsynk: unknown key (did you mean fsync?)",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if cfg.Store.MaxDiskSize != 1<<40 || cfg.Store.Retention != Default().Store.Retention {
		t.Errorf("the valid rest of the file did not apply: store %+v", cfg.Store)
	}
}

// TestSyslogDefaults: an input entry gets the defaults of the keys it
// leaves out; the first one listens on the default address unless it sets
// an address (or only TLS).
// TestGeoIPSources: geoip.databases in order, or detect.geoip alone; the
// older name may repeat a listed file.
func TestGeoIPSources(t *testing.T) {
	tests := []struct {
		yaml string
		want []string
		key  string
	}{
		{"{}", nil, ""},
		{"detect: {geoip: /old.mmdb}", []string{"/old.mmdb:"}, "detect.geoip"},
		{"geoip: {databases: [{path: /r.xdb, type: ip2region}, {path: /c.mmdb, language: zh-CN}]}", []string{"/r.xdb:ip2region", "/c.mmdb:"}, "geoip.databases[0].path"},
		{"geoip: {databases: [{path: /r.xdb}, {path: /c.mmdb}]}\ndetect: {geoip: /c.mmdb}", []string{"/r.xdb:", "/c.mmdb:"}, "geoip.databases[0].path"},
	}
	for _, tt := range tests {
		cfg, err := ParseYAML([]byte(tt.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		var got []string
		for _, s := range cfg.GeoIPSources() {
			got = append(got, s.Path+":"+s.Type)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: sources %q, want %q", tt.yaml, got, tt.want)
		}
		if len(got) > 0 && cfg.GeoIPKey(0) != tt.key {
			t.Errorf("%s: key %q, want %q", tt.yaml, cfg.GeoIPKey(0), tt.key)
		}
	}
	cfg, _ := ParseYAML([]byte("geoip: {databases: [{path: /c.mmdb, language: zh-CN}]}"))
	if l := cfg.GeoIPSources()[0].Language; l != "zh-CN" {
		t.Errorf("language %q", l)
	}
}

func TestSyslogDefaults(t *testing.T) {
	cfg, err := ParseYAML([]byte("inputs:\n  syslog: [{timezone: Asia/Shanghai}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Inputs.Syslog[0]
	if s.Name != "syslog" || s.Addr != "127.0.0.1:5514" || s.MaxMessageSize != 64<<10 || s.Timezone != "Asia/Shanghai" || !s.UDPEnabled() {
		t.Errorf("first input %+v", s)
	}
	cfg, err = ParseYAML([]byte("inputs:\n  syslog: [{tls: {addr: '127.0.0.1:6514', cert_file: c, key_file: k}}, {addr: '127.0.0.1:7514'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.Inputs.Syslog[0], cfg.Inputs.Syslog[1]; a.Addr != "" || b.Name != "syslog1" || b.Addr != "127.0.0.1:7514" {
		t.Errorf("TLS-only first input got addr %q; second %+v", a.Addr, b)
	}
}

func TestClosest(t *testing.T) {
	ids := []string{"brute-force-account", "brute-force-account-sources", "brute-force-source", "web-scanner"}
	for word, want := range map[string]string{
		"brute-forse":  "brute-force-source",
		"web-scaner":   "web-scanner",
		"WEB-SCANNER":  "web-scanner",
		"password":     "",
		"xy":           "",
		"web":          "",
		"brute-force":  "brute-force-source",
		"brute-force-": "brute-force-source",
	} {
		if got := Closest(word, ids); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte("journal:\n  fsync: always\n"))
	f.Add([]byte("inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1', max_message_size: 1MiB}\n"))
	f.Add([]byte("store: {retention: 2w, max_disk_size: 1.5TiB}"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseYAML(b)
		if err == nil {
			// Whatever parses must also validate: Validate is idempotent.
			if err := cfg.Validate(); err != nil {
				t.Fatalf("accepted config fails validation: %v", err)
			}
		}
	})
}

func TestProblemString(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "v.yaml", Line: 3, Path: "a.b", Msg: "bad"}, "v.yaml:3: a.b: bad"},
		{Problem{File: "v.yaml", Path: "a.b", Msg: "bad"}, "v.yaml: a.b: bad"},
		{Problem{Line: 3, Msg: "bad"}, "line 3: bad"},
		{Problem{Path: "a", Msg: "x\n | y\n | ^"}, "a: x\n     | y\n     | ^"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v: %q, want %q", tt.p, got, tt.want)
		}
	}
}

// TestCharsets: inputs name their charsets in any case; UTF-8 inputs are
// left out of the map.
func TestCharsets(t *testing.T) {
	cfg, err := ParseYAML([]byte("inputs:\n  syslog:\n    - {name: win, charset: GBK}\n    - {name: plain, addr: '127.0.0.1:1', charset: utf-8}\n" +
		"  kafka:\n    - {name: tw, brokers: [k:9092], topics: [t], charset: big5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Charsets()
	if len(got) != 2 || got["win"] != charset.GBK || got["tw"] != charset.Big5 {
		t.Fatalf("Charsets() = %v", got)
	}
}
