package nginx

import (
	"bytes"
	"testing"
)

// quotedSlow is the plain reading of quoted: scan, a backslash escapes the
// next byte.
func quotedSlow(b []byte) (content, rest []byte, ok bool) {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			if i+1 == len(b) || b[i+1] == ' ' {
				return b[1:i], b[i+1:], true
			}
		}
	}
	return b[1:], nil, false
}

func FuzzQuoted(f *testing.F) {
	for _, s := range []string{`"a"`, `"a\"" b`, `"a\\" b`, `"\\\"" x`, `"a"b" c`, `"`, `""`, `"\`, `"x\x22y" "z"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		c1, r1, ok1 := quoted(b)
		c2, r2, ok2 := quotedSlow(b)
		if !bytes.Equal(c1, c2) || !bytes.Equal(r1, r2) || ok1 != ok2 {
			t.Fatalf("quoted(%q) = %q, %q, %v; want %q, %q, %v", b, c1, r1, ok1, c2, r2, ok2)
		}
	})
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		peer, realIP, xff string
		client, proxy     string
		forwarded         bool
	}{
		{"203.0.113.1", "", "", "203.0.113.1", "", false},
		{"203.0.113.1", "", "10.0.0.1", "203.0.113.1", "", false},        // Internet peer: XFF not believed
		{"10.0.0.5", "", "203.0.113.7", "203.0.113.7", "10.0.0.5", true}, // internal proxy
		{"10.0.0.5", "", "1.2.3.4, 203.0.113.7", "203.0.113.7", "10.0.0.5", true},
		{"10.0.0.5", "", "203.0.113.7:5555", "203.0.113.7", "10.0.0.5", true},
		{"10.0.0.5", "", "[2001:db8::1]:443", "2001:db8::1", "10.0.0.5", true},
		{"::1", "", "2001:db8::1", "2001:db8::1", "::1", true},
		{"10.0.0.5", "", "10.1.1.1, 10.0.0.9", "10.1.1.1", "10.0.0.5", true}, // all internal: leftmost
		{"10.0.0.5", "", "203.0.113.7, junk", "10.0.0.5", "", false},         // junk on the right: stop
		{"10.0.0.5", "", "junk, 10.0.0.9", "10.0.0.9", "10.0.0.5", true},
		{"10.0.0.5", "", ",", "10.0.0.5", "", false},
		{"203.0.113.50", "10.0.0.5", "6.6.6.6", "203.0.113.50", "10.0.0.5", false}, // realip
		{"203.0.113.50", "203.0.113.50", "", "203.0.113.50", "", false},
		{"unix:", "", "203.0.113.7", "unix:", "", false},
		{"-", "", "", "", "", false},
	}
	for _, tt := range tests {
		c, p, f := clientAddr(tt.peer, tt.realIP, tt.xff)
		if c != tt.client || p != tt.proxy || f != tt.forwarded {
			t.Errorf("clientAddr(%q, %q, %q) = %q, %q, %v; want %q, %q, %v",
				tt.peer, tt.realIP, tt.xff, c, p, f, tt.client, tt.proxy, tt.forwarded)
		}
	}
}

func TestNanos(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.004", 4000000, true}, {"0.000", 0, true}, {"12", 12000000000, true}, {".5", 500000000, true},
		{"1.0000000019", 1000000001, true}, {"", 0, false}, {".", 0, false}, {"-1", 0, false}, {"1e3", 0, false},
		{"1234567890.1", 0, false},
	}
	for _, tt := range tests {
		if got, ok := nanos(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("nanos(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"27/Nov/2026:23:39:14 +0000", "28/Nov/2026:07:39:14 +0800", "27/Nov/2026:22:09:14 -0130",
		"2026-11-27T23:39:14+00:00", "2026-11-27T23:39:14Z", "1795822754", "1795822754.000"} {
		tm, ok := parseTime(s)
		if !ok || tm.Unix() != 1795822754 {
			t.Errorf("parseTime(%q) = %v, %v", s, tm, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "31/Feb/2026:23:39:14 +0000", "27/Nov/2026:24:39:14 +0000", "27/Foo/2026:23:39:14 +0000",
		"27/Nov/2026:23:39:14 0000", "2026-11-27 23:39:14", "17958227"} {
		if tm, ok := parseTime(s); ok {
			t.Errorf("parseTime(%q) = %v, want failure", s, tm)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ line, method, target, version, path, query string }{
		{"GET /owa/?a=b HTTP/1.1", "GET", "/owa/?a=b", "1.1", "/owa/", "a=b"},
		{"RPC_IN_DATA /rpc/rpcproxy.dll?mail:6001 HTTP/1.1", "RPC_IN_DATA", "/rpc/rpcproxy.dll?mail:6001", "1.1", "/rpc/rpcproxy.dll", "mail:6001"},
		{"GET /", "GET", "/", "", "/", ""},
		{"GET http://example.com HTTP/1.0", "GET", "http://example.com", "1.0", "/", ""},
		{"GET https://example.com?x HTTP/1.0", "GET", "https://example.com?x", "1.0", "/", "x"},
		{"\x16\x03\x01", "", "", "", "", ""},
		{"get / HTTP/1.1", "", "", "", "", ""},
	}
	for _, tt := range tests {
		m, tg, v := splitRequest(tt.line)
		p, q := splitTarget(tg)
		if tg == "" {
			p, q = "", ""
		}
		if m != tt.method || tg != tt.target || v != tt.version || p != tt.path || q != tt.query {
			t.Errorf("%q: got %q %q %q %q %q", tt.line, m, tg, v, p, q)
		}
	}
}

// TestKeyKindParserFields: the names package parse gives its own fields
// mean nothing to the JSON format, which therefore only reads the payload's
// fields (format.Event.Payload).
func TestKeyKindParserFields(t *testing.T) {
	for _, name := range []string{"_msg", "vigil.seq", "vigil.input", "vigil.received", "event.id",
		"log.source.address", "vigil.truncated", "vigil.raw_base64", "log.syslog.format", "log.syslog.priority",
		"log.syslog.facility.name", "log.syslog.severity.name", "vigil.priority_assumed", "host.hostname",
		"log.syslog.appname", "log.syslog.procid", "log.syslog.msgid", "log.syslog.sd.origin.ip",
		"json.user", "json.status", "vigil.status", "log.status", "_status"} {
		if k := keyKind(name); k != kNone {
			t.Errorf("keyKind(%q) = %d, want kNone", name, k)
		}
	}
}

// TestKeyKindNames: names are folded (case, '_', '-', '.', '@') before they
// are recognized.
func TestKeyKindNames(t *testing.T) {
	for name, want := range map[string]key{
		"host": kHost, "Host": kHost, "http_host": kHost, "hostname": kNone, "vhost": kServerName,
		"jsonstatus": kNone, "log": kNone, "vigil": kNone, "request_uri": kRequestURI, "Request-URI": kRequestURI,
		"@timestamp": kTimeLoose, "remote.addr": kPeer, "remote addr": kNone, "lstatus": kNone,
	} {
		if got := keyKind(name); got != want {
			t.Errorf("keyKind(%q) = %d, want %d", name, got, want)
		}
	}
}
