package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValidAndLoopback(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.HTTP.Addr, "127.0.0.1:") || !strings.HasPrefix(cfg.Inputs.Syslog[0].Addr, "127.0.0.1:") {
		t.Fatalf("defaults must listen on loopback: http %s syslog %s", cfg.HTTP.Addr, cfg.Inputs.Syslog[0].Addr)
	}
	if cfg.Journal.Fsync != "interval" || !cfg.Journal.CompressEnabled() {
		t.Fatalf("unexpected journal defaults %+v", cfg.Journal)
	}
	// The journal stops before the store's own guard runs out, leaving it
	// room to flush (docs/durability.md).
	if cfg.Journal.MinFreeDisk != 512<<20 || cfg.Journal.MinFreeDisk >= cfg.Store.MinFreeDisk {
		t.Fatalf("journal.min_free_disk %s with store.min_free_disk %s", cfg.Journal.MinFreeDisk, cfg.Store.MinFreeDisk)
	}
	in := cfg.Inputs.Syslog[0]
	if in.IdleTimeoutValue() != 0 || in.MaxConnections != 1000 || in.TLS.MaxConnections != 1000 || in.MaxConnectionsPerAddress != 100 {
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
		{"rules_dir", cfg.Detect.RulesDir, "/etc/vigil/rules"},
		{"alert syslog", cfg.Alerts.Syslog[0].Address, "siem.corp.example:6514"},
		{"alert webhook", cfg.Alerts.Webhooks[0].Headers["Authorization"], "Bearer x"},
		{"alert smtp", cfg.Alerts.SMTP[0].To[0], "soc@corp.example"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"unknown key", "journal:\n  fsynk: always\n", "field fsynk not found"},
		{"detect lateness", "detect:\n  lateness: 2d\n", "detect.lateness"},
		{"alert channel", "alerts:\n  webhooks:\n    - url: ftp://x\n", "alerts:"},
		{"unknown detect key", "detect:\n  rule_dir: /x\n", "field rule_dir not found"},
		{"output without name", "outputs:\n  syslog:\n    - address: h:1\n", "name is required"},
		{"output twice", "outputs:\n  syslog:\n    - {name: a, address: h:1}\n    - {name: a, address: h:2}\n", "used twice"},
		{"kafka without brokers", "inputs:\n  kafka:\n    - topics: [t]\n", "inputs.kafka[0]"},
		{"kafka name clash", "inputs:\n  kafka:\n    - name: syslog\n      brokers: [k:9092]\n      topics: [t]\n", "used twice"},
		{"fsync policy", "journal:\n  fsync: sometimes\n", "journal.fsync"},
		{"bad size", "journal:\n  segment_size: lots\n", "invalid size"},
		{"tiny segment", "journal:\n  segment_size: 10KiB\n", "segment_size"},
		{"bad duration", "store:\n  retention: forever\n", "invalid duration"},
		{"short retention", "store:\n  retention: 2h\n", "store.retention"},
		{"addr without port", "http:\n  addr: localhost\n", "http.addr"},
		{"tls without cert", "inputs:\n  syslog:\n    - name: t\n      tls:\n        addr: 127.0.0.1:6514\n", "cert_file and key_file"},
		{"duplicate input", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1'}\n    - {name: a, addr: '127.0.0.1:2'}\n", "used twice"},
		{"bad timezone", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1', timezone: Mars/Base}\n", "timezone"},
		{"log level", "log:\n  level: loud\n", "log.level"},
		{"buffer memory", "inputs:\n  syslog:\n    - {name: a, addr: '127.0.0.1:1', max_message_size: 16MiB, max_buffer_memory: 16MiB}\n", "max_buffer_memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
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
