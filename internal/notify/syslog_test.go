package notify

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/units"
)

// syslogMsg is an RFC5424 message as the test reads it.
type syslogMsg struct {
	pri                                 int
	version, ts, host, app, proc, msgid string
	sdID                                string
	params                              map[string]string
	msg                                 string
}

// parse5424 parses "<PRI>1 TS HOST APP PROCID MSGID [SD] MSG" with one SD
// element, undoing the PARAM-VALUE escapes.
func parse5424(t *testing.T, s string) syslogMsg {
	t.Helper()
	var m syslogMsg
	end := strings.IndexByte(s, '>')
	if !strings.HasPrefix(s, "<") || end < 0 {
		t.Fatalf("no PRI in %q", s)
	}
	var err error
	if m.pri, err = strconv.Atoi(s[1:end]); err != nil {
		t.Fatalf("PRI in %q: %v", s, err)
	}
	rest := s[end+1:]
	f := strings.SplitN(rest, " ", 7)
	if len(f) != 7 {
		t.Fatalf("short header in %q", s)
	}
	m.version, m.ts, m.host, m.app, m.proc, m.msgid = f[0], f[1], f[2], f[3], f[4], f[5]
	sd := f[6]
	if !strings.HasPrefix(sd, "[") {
		t.Fatalf("no SD element in %q", s)
	}
	i := strings.IndexByte(sd, ' ')
	m.sdID = sd[1:i]
	m.params = map[string]string{}
	i++
	for {
		eq := strings.IndexByte(sd[i:], '=')
		if eq < 0 || sd[i+eq+1] != '"' {
			t.Fatalf("bad SD param at %q", sd[i:])
		}
		name := sd[i : i+eq]
		i += eq + 2
		var v strings.Builder
		for ; sd[i] != '"'; i++ {
			if sd[i] == '\\' && strings.IndexByte(`"\]`, sd[i+1]) >= 0 {
				i++
			} else if sd[i] == ']' {
				t.Fatalf("unescaped ] in SD value of %s: %q", name, sd)
			}
			v.WriteByte(sd[i])
		}
		m.params[name] = v.String()
		i++
		if sd[i] == ']' {
			break
		}
		if sd[i] != ' ' {
			t.Fatalf("bad SD at %q", sd[i:])
		}
		i++
	}
	if sd[i+1] != ' ' {
		t.Fatalf("no space after SD in %q", s)
	}
	m.msg = sd[i+2:]
	return m
}

// checkBody checks that the MSG is the alert's JSON.
func checkBody(t *testing.T, msg string, a *alert.Alert) {
	t.Helper()
	want, _ := a.MarshalJSON()
	if msg != string(want) {
		t.Errorf("MSG\n got %s\nwant %s", msg, want)
	}
	var back alert.Alert
	if err := json.Unmarshal([]byte(msg), &back); err != nil || back.ID != a.ID {
		t.Errorf("MSG is not the alert JSON: %v", err)
	}
}

func newSyslogNotifier(t *testing.T, sc SyslogConfig) *Notifier {
	t.Helper()
	if sc.Name == "" {
		sc.Name = "out"
	}
	return newNotifier(t, Config{Syslog: []SyslogConfig{sc}}, nil, 5*time.Second)
}

// udpReceiver returns a loopback UDP socket and reads one datagram.
func udpReceiver(t *testing.T) (net.PacketConn, func() string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc, func() string {
		t.Helper()
		buf := make([]byte, 1<<16)
		_ = pc.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read datagram: %v", err)
		}
		return string(buf[:n])
	}
}

func TestSyslogUDP5424(t *testing.T) {
	pc, read := udpReceiver(t)
	n := newSyslogNotifier(t, SyslogConfig{Address: pc.LocalAddr().String(), Hostname: "vigil host"})
	levels := []struct {
		level string
		sev   int
	}{
		{alert.LevelCritical, 2}, {alert.LevelHigh, 3}, {alert.LevelMedium, 4},
		{alert.LevelLow, 5}, {alert.LevelInfo, 6},
	}
	for i, l := range levels {
		a := testAlert(i)
		a.Level = l.level
		a.RuleID = `rule "x" \ [y]`
		n.Send(a)
		m := parse5424(t, read())
		if want := 20*8 + l.sev; m.pri != want {
			t.Errorf("%s: PRI %d, want %d (local4.%d)", l.level, m.pri, want, l.sev)
		}
		if m.version != "1" || m.app != "vigil" || m.msgid != "alert" || m.host != "vigil_host" ||
			m.proc != strconv.Itoa(os.Getpid()) || m.ts != "2026-11-27T23:39:14.123456Z" {
			t.Errorf("header %+v", m)
		}
		if m.sdID != "vigil@32473" || m.params["rule.id"] != a.RuleID || m.params["level"] != l.level || m.params["alert.id"] != a.ID || len(m.params) != 3 {
			t.Errorf("SD %s %v", m.sdID, m.params)
		}
		checkBody(t, m.msg, a)
	}
	waitFor(t, "status", func() bool { return statusOf(t, n, "out").Sent == uint64(len(levels)) })
}

func TestSyslogUDP3164(t *testing.T) {
	pc, read := udpReceiver(t)
	n := newSyslogNotifier(t, SyslogConfig{Address: pc.LocalAddr().String(), Format: FormatRFC3164, Facility: "auth", Hostname: "vigil"})
	a := testAlert(1)
	a.Level = alert.LevelMedium
	n.Send(a)
	got := read()
	re := regexp.MustCompile(`^<(\d+)>([A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) vigil vigil\[(\d+)\]: (.*)$`)
	m := re.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("not RFC3164: %q", got)
	}
	if m[1] != strconv.Itoa(4*8+4) {
		t.Errorf("PRI %s, want auth.warning %d", m[1], 4*8+4)
	}
	if want := a.TS.Local().Format(time.Stamp); m[2] != want {
		t.Errorf("timestamp %q, want %q", m[2], want)
	}
	checkBody(t, m[4], a)
}

func TestSyslogMinLevel(t *testing.T) {
	pc, read := udpReceiver(t)
	n := newSyslogNotifier(t, SyslogConfig{Address: pc.LocalAddr().String(), MinLevel: alert.LevelHigh})
	for i, l := range []string{alert.LevelInfo, alert.LevelMedium, alert.LevelCritical} {
		a := testAlert(i)
		a.Level = l
		n.Send(a)
	}
	m := parse5424(t, read())
	if m.params["level"] != alert.LevelCritical {
		t.Errorf("first message has level %s: min_level let a lower one through", m.params["level"])
	}
	if st := statusOf(t, n, "out"); st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("filtered alerts counted: %+v", st)
	}
}

// streamReceiver accepts TCP (or TLS) connections and reads frames.
type streamReceiver struct {
	l         net.Listener
	octets    bool
	closeEach int // close a connection after this many frames (0: never)
	frames    chan string
	mu        sync.Mutex
	conns     []net.Conn
	accepted  int
	closed    int // connections the receiver has closed
	wg        sync.WaitGroup
}

func newStreamReceiver(t *testing.T, cfg *tls.Config, octets bool, closeEach int) *streamReceiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	r := &streamReceiver{l: l, octets: octets, closeEach: closeEach, frames: make(chan string, 100)}
	r.wg.Add(1)
	go r.accept(t)
	t.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *streamReceiver) accept(t *testing.T) {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns = append(r.conns, c)
		r.accepted++
		r.mu.Unlock()
		r.wg.Add(1)
		go r.read(t, c)
	}
}

func (r *streamReceiver) read(t *testing.T, c net.Conn) {
	defer r.wg.Done()
	defer func() {
		c.Close()
		r.mu.Lock()
		r.closed++
		r.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		var frame string
		if r.octets {
			l, err := br.ReadString(' ')
			if err != nil {
				return
			}
			size, err := strconv.Atoi(strings.TrimSuffix(l, " "))
			if err != nil {
				t.Errorf("bad octet count %q", l)
				return
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(br, b); err != nil {
				t.Errorf("short frame: %v", err)
				return
			}
			frame = string(b)
		} else {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			frame = strings.TrimSuffix(l, "\n")
		}
		r.frames <- frame
		if r.closeEach > 0 && n == r.closeEach {
			return
		}
	}
}

func (r *streamReceiver) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-r.frames:
		return f
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for a frame")
		return ""
	}
}

func TestSyslogStream(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name   string
		cfg    SyslogConfig
		server *tls.Config
		octets bool
	}{
		{name: "tcp octet counting", cfg: SyslogConfig{Transport: TransportTCP}, octets: true},
		{name: "tcp newline", cfg: SyslogConfig{Transport: TransportTCP, Framing: FramingNewline}},
		{name: "tcp rfc3164 default newline", cfg: SyslogConfig{Transport: TransportTCP, Format: FormatRFC3164}},
		{name: "tcp rfc3164 octet counting", cfg: SyslogConfig{Transport: TransportTCP, Format: FormatRFC3164, Framing: FramingOctetCounting}, octets: true},
		{name: "tls", cfg: SyslogConfig{Transport: TransportTLS, TLS: TLSConfig{CAFile: p.caFile}}, server: newServerTLS(p, false), octets: true},
		{name: "tls client cert", cfg: SyslogConfig{Transport: TransportTLS, TLS: TLSConfig{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKy}}, server: newServerTLS(p, true), octets: true},
		{name: "tls insecure", cfg: SyslogConfig{Transport: TransportTLS, TLS: TLSConfig{InsecureSkipVerify: true}}, server: newServerTLS(p, false), octets: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newStreamReceiver(t, tc.server, tc.octets, 0)
			tc.cfg.Address = r.l.Addr().String()
			n := newSyslogNotifier(t, tc.cfg)
			for i := range 3 {
				a := testAlert(i)
				n.Send(a)
				f := r.next(t)
				if tc.cfg.Format == FormatRFC3164 {
					_, body, ok := strings.Cut(f, "]: ")
					if !ok || !strings.HasPrefix(f, "<163>") {
						t.Fatalf("not RFC3164: %q", f)
					}
					checkBody(t, body, a)
					continue
				}
				m := parse5424(t, f)
				if m.pri != 163 || m.params["alert.id"] != a.ID {
					t.Errorf("PRI %d SD %v", m.pri, m.params)
				}
				checkBody(t, m.msg, a)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.accepted != 1 {
				t.Errorf("%d connections, want 1 kept open", r.accepted)
			}
		})
	}
}

func TestSyslogTLSUnknownCA(t *testing.T) {
	p := newPKI(t)
	r := newStreamReceiver(t, newServerTLS(p, false), true, 0)
	n := newSyslogNotifier(t, SyslogConfig{Address: r.l.Addr().String(), Transport: TransportTLS, Delivery: fastRetry(10, 2)})
	n.Send(testAlert(1))
	waitFor(t, "failure", func() bool { return statusOf(t, n, "out").Failed == 1 })
	if st := statusOf(t, n, "out"); !strings.Contains(st.LastError, "certificate") || st.Errors != 2 {
		t.Errorf("status %+v, want a certificate error after 2 attempts", st)
	}
}

func TestSyslogReconnect(t *testing.T) {
	p := newPKI(t)
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			// The receiver closes every connection after one frame.
			cfg := SyslogConfig{Transport: TransportTCP, Delivery: fastRetry(10, 5)}
			var server *tls.Config
			if useTLS {
				cfg.Transport, cfg.TLS.CAFile, server = TransportTLS, p.caFile, newServerTLS(p, false)
			}
			r := newStreamReceiver(t, server, true, 1)
			cfg.Address = r.l.Addr().String()
			n := newSyslogNotifier(t, cfg)
			for i := range 3 {
				a := testAlert(i)
				n.Send(a)
				if m := parse5424(t, r.next(t)); m.params["alert.id"] != a.ID {
					t.Fatalf("frame %d is alert %s", i, m.params["alert.id"])
				}
				// Let the receiver's close reach the sender before the next alert.
				waitFor(t, "closed", func() bool {
					r.mu.Lock()
					defer r.mu.Unlock()
					return r.closed == i+1
				})
			}
			waitFor(t, "sent", func() bool { return statusOf(t, n, "out").Sent == 3 })
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.accepted != 3 {
				t.Errorf("%d connections, want 3", r.accepted)
			}
			if st := statusOf(t, n, "out"); st.Errors != 0 {
				t.Errorf("status %+v: a closed connection should be noticed before writing", st)
			}
		})
	}
}

func TestSyslogReceiverDown(t *testing.T) {
	addr := deadAddr(t)
	n := newSyslogNotifier(t, SyslogConfig{Address: addr, Transport: TransportTCP,
		Delivery: Delivery{MaxAttempts: 1000, Backoff: units.Duration(5 * time.Millisecond), MaxBackoff: units.Duration(20 * time.Millisecond)}})
	a := testAlert(1)
	n.Send(a)
	waitFor(t, "errors", func() bool { return statusOf(t, n, "out").Errors >= 2 })
	if st := statusOf(t, n, "out"); !strings.Contains(st.LastError, "connect to tcp://"+addr) {
		t.Errorf("last error %q", st.LastError)
	}
	// The receiver comes up: the retry delivers.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	size, _ := br.ReadString(' ')
	k, _ := strconv.Atoi(strings.TrimSpace(size))
	b := make([]byte, k)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatal(err)
	}
	checkBody(t, parse5424(t, string(b)).msg, a)
	waitFor(t, "sent", func() bool { return statusOf(t, n, "out").Sent == 1 })
}

func TestSyslogLargeAlertUDP(t *testing.T) {
	pc, read := udpReceiver(t)
	n := newSyslogNotifier(t, SyslogConfig{Address: pc.LocalAddr().String(), MaxMessageSize: 4096})
	a := testAlert(1)
	a.Payloads = nil
	for i := range 100 {
		a.Payloads = append(a.Payloads, fmt.Sprintf("payload %d %s", i, strings.Repeat("x", 100)))
	}
	n.Send(a)
	got := read()
	if len(got) > 4096 {
		t.Errorf("datagram of %d bytes, max 4096", len(got))
	}
	m := parse5424(t, got)
	var back alert.Alert
	if err := json.Unmarshal([]byte(m.msg), &back); err != nil {
		t.Fatalf("trimmed MSG is not JSON: %v", err)
	}
	if back.ID != a.ID || len(back.Payloads) == 0 || len(back.Payloads) >= 100 || back.Payloads[0] != a.Payloads[0] {
		t.Errorf("trimmed alert has %d payloads", len(back.Payloads))
	}
}

func TestParseFacility(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", 20, true}, {"local4", 20, true}, {"LOCAL0", 16, true}, {"auth", 4, true},
		{"authpriv", 10, true}, {"7", 7, true}, {"23", 23, true}, {"24", 0, false}, {"-1", 0, false}, {"nope", 0, false},
	}
	for _, tc := range tests {
		got, err := parseFacility(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseFacility(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestFormatFraming(t *testing.T) {
	s, err := newSyslogSender(SyslogConfig{Address: "127.0.0.1:514", Transport: TransportTCP, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.format(nil, testAlert(1))
	if err != nil {
		t.Fatal(err)
	}
	sp := bytes.IndexByte(b, ' ')
	k, err := strconv.Atoi(string(b[:sp]))
	if err != nil || k != len(b)-sp-1 {
		t.Errorf("octet count %q for %d bytes", b[:sp], len(b)-sp-1)
	}
}
