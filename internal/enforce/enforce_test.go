package enforce

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/lists"
)

// bans is a fixed decision table for the tests: scope:value -> id.
type bans map[string]int64

func (b bans) match(_ time.Time, ip netip.Addr, user, device string) (int64, string, bool) {
	for _, k := range []string{"ip:" + ip.String(), "user:" + user, "device:" + strings.ToLower(device)} {
		if id, ok := b[k]; ok {
			return id, "test ban " + k, true
		}
	}
	return 0, "", false
}

func newChecker(t *testing.T, mode DeviceMode, b bans) (*Checker, *prometheus.Registry) {
	t.Helper()
	set, err := lists.Load("testdata/lists")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := New(Options{Match: b.match, Devices: mode, Registry: set, Registerer: reg,
		Now: func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

const eas = "/Microsoft-Server-ActiveSync"

func TestCheck(t *testing.T) {
	b := bans{"ip:203.0.113.7": 1, "user:mallory": 2, "device:stolen1": 3}
	bobB64 := asBase64([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}, nil, "Outlook")
	tests := []struct {
		name  string
		mode  DeviceMode
		req   Request
		allow bool
		why   string
	}{
		{"nothing known", DevicesOff, Request{IP: netip.MustParseAddr("198.51.100.1"), Path: "/owa/"}, true, ""},
		{"banned address", DevicesOff, Request{IP: netip.MustParseAddr("203.0.113.7"), Path: "/owa/"}, false, "ban"},
		{"banned user, domain form", DevicesOff, Request{User: `CORP\Mallory`, Path: "/ews/exchange.asmx"}, false, "ban"},
		{"banned user in the ActiveSync query", DevicesOff, Request{Path: eas, Query: "Cmd=Sync&User=mallory%40corp.example&DeviceId=X&DeviceType=iPhone"}, false, "ban"},
		{"banned query user behind another Basic user", DevicesOff, Request{User: "alice", Path: eas, Query: "Cmd=Sync&User=mallory&DeviceId=X"}, false, "ban"},
		{"banned device", DevicesOff, Request{User: "alice", Path: eas, Query: "Cmd=Sync&DeviceId=STOLEN1"}, false, "ban"},
		{"device mode off: unregistered passes", DevicesOff, Request{User: "alice", Path: eas, Query: "Cmd=Sync&DeviceId=NEW1"}, true, ""},
		{"registered device", DevicesRegisteredOnly, Request{User: "Alice", Path: eas, Query: "Cmd=Sync&User=alice&DeviceId=applf17abcdef12&DeviceType=iPhone"}, true, ""},
		{"registered device, base64 form, Basic user", DevicesRegisteredOnly, Request{User: "bob@corp.example", Path: eas, Query: bobB64}, true, ""},
		{"registered for another user", DevicesRegisteredOnly, Request{User: "bob", Path: eas, Query: "Cmd=Sync&DeviceId=ApplF17ABCDEF12"}, false, "unregistered-device"},
		{"unregistered device", DevicesRegisteredOnly, Request{Path: eas, Query: "Cmd=Sync&User=alice&DeviceId=NEW1"}, false, "unregistered-device"},
		{"no DeviceId", DevicesRegisteredOnly, Request{User: "alice", Path: eas, Query: "Cmd=Sync"}, false, "no-device"},
		{"no user", DevicesRegisteredOnly, Request{Path: eas, Query: "Cmd=Sync&DeviceId=ApplF17ABCDEF12"}, false, "no-device"},
		{"OPTIONS without query", DevicesRegisteredOnly, Request{User: "alice", Path: eas}, true, ""},
		{"not ActiveSync", DevicesRegisteredOnly, Request{User: "alice", Path: "/owa/"}, true, ""},
		{"learn: unregistered passes", DevicesLearn, Request{Path: eas, Query: "Cmd=Sync&User=alice&DeviceId=NEW1"}, true, "unknown-device"},
		{"learn: ban still refuses", DevicesLearn, Request{IP: netip.MustParseAddr("203.0.113.7"), Path: eas, Query: "Cmd=Sync&User=alice&DeviceId=NEW1"}, false, "ban"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newChecker(t, tt.mode, b)
			v := c.Check(tt.req)
			if v.Allow != tt.allow || v.Why != tt.why {
				t.Errorf("Check(%+v) = %+v; want allow %v why %q", tt.req, v, tt.allow, tt.why)
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	c, reg := newChecker(t, DevicesRegisteredOnly, bans{"ip:203.0.113.7": 7})
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		code   int
		reason string
	}{
		{"headers, allowed", "/api/v1/enforce/check", map[string]string{HeaderIP: "198.51.100.1", HeaderUser: "alice",
			HeaderURI: eas + "?Cmd=Sync&DeviceId=ApplF17ABCDEF12"}, 204, ""},
		{"headers, banned address", "/api/v1/enforce/check", map[string]string{HeaderIP: "203.0.113.7", HeaderURI: "/owa/"}, 403, "decision 7: test ban ip:203.0.113.7"},
		{"mapped address", "/api/v1/enforce/check", map[string]string{HeaderIP: "::ffff:203.0.113.7"}, 403, "decision 7"},
		{"parameters", "/api/v1/enforce/check?ip=203.0.113.7", nil, 403, "decision 7"},
		{"parameters win", "/api/v1/enforce/check?ip=198.51.100.2", map[string]string{HeaderIP: "203.0.113.7"}, 204, ""},
		{"device parameter", "/api/v1/enforce/check?user=alice&device=NEW&uri=" + eas + "%3FCmd%3DSync", nil, 403, "registered-only: device NEW"},
		{"bad address", "/api/v1/enforce/check?ip=nope", nil, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != tt.code || !strings.HasPrefix(w.Header().Get(HeaderReason), tt.reason) {
				t.Errorf("%s: %d %q; want %d %q", tt.target, w.Code, w.Header().Get(HeaderReason), tt.code, tt.reason)
			}
		})
	}
	if got := testutil.ToFloat64(c.m.checks.WithLabelValues("ban")); got != 3 {
		t.Errorf("ban checks = %v, want 3", got)
	}
	if n, err := testutil.GatherAndCount(reg, "vigil_enforce_checks_total", "vigil_enforce_bad_requests_total"); err != nil || n != 6 {
		t.Errorf("registered series = %d, %v", n, err)
	}
}

func TestServeDevices(t *testing.T) {
	c, _ := newChecker(t, DevicesRegisteredOnly, nil)
	w := httptest.NewRecorder()
	c.ServeDevices(w, httptest.NewRequest("GET", "/api/v1/enforce/devices", nil))
	want := `{"mode":"registered-only","devices":[{"user":"alice","device":"ApplF17ABCDEF12"},{"user":"bob","device":"0123456789ABCDEFFEDCBA9876543210"}]}` + "\n"
	if w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("devices: %d %s %q\nwant %s", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}
	off, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	off.ServeDevices(w, httptest.NewRequest("GET", "/api/v1/enforce/devices", nil))
	if got := w.Body.String(); got != `{"mode":"off","devices":[]}`+"\n" {
		t.Errorf("without a registry: %s", got)
	}
}

func TestParseDeviceMode(t *testing.T) {
	for s, want := range map[string]DeviceMode{"": DevicesOff, "off": DevicesOff, "learn": DevicesLearn, "registered-only": DevicesRegisteredOnly} {
		if got, err := ParseDeviceMode(s); err != nil || got != want {
			t.Errorf("ParseDeviceMode(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseDeviceMode("on"); err == nil {
		t.Error(`ParseDeviceMode("on"): no error`)
	}
	if _, err := New(Options{Devices: DevicesLearn}); err == nil {
		t.Error("learn without a registry: no error")
	}
}

// BenchmarkServeHTTP measures one check as nginx sends it: an ActiveSync
// request in registered-only mode with a decision table lookup.
func BenchmarkServeHTTP(b *testing.B) {
	set, err := lists.Load("testdata/lists")
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Options{Match: bans{"ip:203.0.113.7": 1}.match, Devices: DevicesRegisteredOnly, Registry: set})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/v1/enforce/check", nil)
	r.Header.Set(HeaderIP, "198.51.100.1")
	r.Header.Set(HeaderUser, `CORP\alice`)
	r.Header.Set(HeaderURI, eas+"?Cmd=Sync&User=alice&DeviceId=ApplF17ABCDEF12&DeviceType=iPhone")
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		c.ServeHTTP(w, r)
		if w.code != 204 {
			b.Fatal(w.code)
		}
	}
}

type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }
