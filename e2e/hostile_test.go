package e2e

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestHostileInput feeds truncated frames, an oversized line, binary junk
// and invalid JSON over raw sockets, then checks that the service is up,
// that everything was kept and flagged, and that the counters moved.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	v := startVigil(t, vigilOpts{})
	addr := v.syslogAddr

	var (
		tokTrunc   = token("truncframe")
		tokHuge    = token("huge")
		tokAfter   = token("afterhuge")
		tokJunk    = token("junk")
		tokTCPJunk = token("tcpjunk")
		tokJSON    = token("badjson")
		tokFraming = token("framing")
		tokNormal  = token("normal")
	)

	// 1. An octet-counted frame that announces more bytes than arrive
	// before the connection closes.
	partial := rfc5424(14, "h1", "truncapp", "cut short "+tokTrunc)
	sendTCP(t, addr, []byte("500 "+partial))

	// 2. A 1 MiB line (the default max_message_size is 64 KiB), then a
	// normal line on the same connection: the framer must find it.
	huge := rfc5424(14, "h2", "hugeapp", tokHuge+" "+strings.Repeat("abcdefgh ", (1<<20)/9))
	after := rfc5424(14, "h2", "hugeapp", tokAfter)
	sendTCP(t, addr, []byte(huge+"\n"+after+"\n"))

	// 3. Random binary junk in a datagram, with NUL and invalid UTF-8;
	// its exact bytes must come back in vigil.raw_base64.
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 300)
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	junk[0], junk[10], junk[11], junk[len(junk)-1] = 0xff, 0, 0xfe, 'x'
	if utf8.Valid(junk) {
		t.Fatal("junk is valid UTF-8")
	}
	sendUDP(t, addr, junk)
	// Junk behind a valid header, so it can be found by a word.
	hdrJunk := append([]byte(rfc5424(14, "h3", "junkapp", tokJunk+" ")), 0xc3, 0x28, 0xff, ' ', 0xe2, 0x82)
	sendUDP(t, addr, hdrJunk)
	// Over TCP a NUL ends a frame: the bytes around it are two messages.
	sendTCP(t, addr, []byte(rfc5424(14, "h3", "junkapp", tokTCPJunk+" \xff\xfe")+"\x00trailing \xc3\x28 junk\n"))

	// 4. A JSON payload that is not valid JSON.
	badJSON := rfc5424(14, "h4", "jsonapp", `{"a":"`+tokJSON+`",`)
	sendTCP(t, addr, []byte(badJSON+"\n"), []byte(rfc5424(14, "h4", "jsonapp2", `{"a":`)+"\n"))

	// 5. A digit-led frame that is not a valid octet count.
	sendTCP(t, addr, []byte("12x "+tokFraming+" not a count\n"))

	// 6. And a normal message afterwards, over both transports.
	sendUDP(t, addr, []byte(rfc5424(14, "h5", "okapp", tokNormal+" udp")))
	sendTCP(t, addr, []byte(rfc5424(14, "h5", "okapp", tokNormal+" tcp")+"\n"))

	if code, body, err := v.get("/healthz", false); err != nil || code != 200 {
		t.Fatalf("/healthz after hostile input: %d %v %s", code, err, body)
	}
	for _, ev := range v.waitEvents(t, tokNormal, 2) {
		checkCommon(t, ev, "syslog")
		checkFields(t, ev, map[string]string{"host.hostname": "h5", "log.syslog.appname": "okapp"})
		if _, bad := ev["vigil.parse_error"]; bad {
			t.Errorf("normal message has vigil.parse_error %q", ev["vigil.parse_error"])
		}
	}

	t.Run("truncated frame", func(t *testing.T) {
		ev := v.waitOne(t, tokTrunc)
		checkFields(t, ev, map[string]string{"vigil.truncated": "true", "log.syslog.appname": "truncapp"})
		if ev["vigil.parse_error"] == "" {
			t.Errorf("truncated frame has no vigil.parse_error: %v", ev)
		}
		if !strings.HasSuffix(ev["_msg"], tokTrunc) {
			t.Errorf("_msg = %q, want the partial frame's text", ev["_msg"])
		}
	})
	t.Run("1 MiB line", func(t *testing.T) {
		ev := v.waitOne(t, tokHuge)
		checkFields(t, ev, map[string]string{"vigil.truncated": "true", "log.syslog.appname": "hugeapp"})
		if !strings.Contains(ev["vigil.parse_error"], "trunc") {
			t.Errorf("vigil.parse_error = %q, want it to say the message was truncated", ev["vigil.parse_error"])
		}
		if n := len(ev["_msg"]); n > 64<<10 || n < 32<<10 {
			t.Errorf("len(_msg) = %d, want the message cut to about 64 KiB", n)
		}
		if _, body, _ := strings.Cut(huge, " - - - "); !strings.HasPrefix(body, ev["_msg"]) {
			t.Errorf("_msg is not a prefix of the message body: %.100q", ev["_msg"])
		}
		after := v.waitOne(t, tokAfter)
		if _, ok := after["vigil.truncated"]; ok {
			t.Errorf("the line after the oversized one is flagged truncated: %v", after)
		}
		checkFields(t, after, map[string]string{"_msg": tokAfter})
		v.waitEvents(t, "vigil.truncated:true", 2)
	})
	t.Run("binary junk", func(t *testing.T) {
		raw := base64.StdEncoding.EncodeToString(junk)
		ev := v.waitOne(t, `vigil.raw_base64:="`+raw+`"`)
		checkFormat(t, ev, "Unknown")
		if !strings.Contains(ev["vigil.parse_error"], "UTF-8") {
			t.Errorf("vigil.parse_error = %q, want it to name invalid UTF-8", ev["vigil.parse_error"])
		}
		if !utf8.ValidString(ev["_msg"]) || ev["_msg"] == "" {
			t.Errorf("_msg %q is not valid non-empty UTF-8", ev["_msg"])
		}
		ev = v.waitOne(t, tokJunk)
		checkFields(t, ev, map[string]string{"log.syslog.appname": "junkapp", "host.hostname": "h3"})
		if got, err := base64.StdEncoding.DecodeString(ev["vigil.raw_base64"]); err != nil || !bytes.Equal(got, hdrJunk) {
			t.Errorf("vigil.raw_base64 = %q (%v), want the datagram's exact bytes", ev["vigil.raw_base64"], err)
		}
		if ev["vigil.parse_error"] == "" {
			t.Errorf("no vigil.parse_error: %v", ev)
		}
		ev = v.waitOne(t, tokTCPJunk)
		if ev["vigil.parse_error"] == "" || ev["vigil.raw_base64"] == "" {
			t.Errorf("TCP junk lacks vigil.parse_error or vigil.raw_base64: %v", ev)
		}
		v.waitOne(t, `trailing vigil.parse_error:*`)
	})
	t.Run("invalid JSON", func(t *testing.T) {
		ev := v.waitOne(t, tokJSON)
		if !strings.Contains(ev["vigil.parse_error"], "JSON") {
			t.Errorf("vigil.parse_error = %q, want it to name JSON", ev["vigil.parse_error"])
		}
		checkFields(t, ev, map[string]string{"_msg": `{"a":"` + tokJSON + `",`, "log.syslog.appname": "jsonapp"})
		ev = v.waitOne(t, "log.syslog.appname:jsonapp2")
		checkFields(t, ev, map[string]string{"_msg": `{"a":`})
		if ev["vigil.parse_error"] == "" {
			t.Errorf("no vigil.parse_error: %v", ev)
		}
	})
	t.Run("framing error", func(t *testing.T) {
		ev := v.waitOne(t, tokFraming)
		checkFields(t, ev, map[string]string{"_msg": "12x " + tokFraming + " not a count"})
	})
	t.Run("metrics", func(t *testing.T) {
		v.waitMetric(t, "vigil_input_truncated_total", 1)
		v.waitMetric(t, "vigil_input_truncated_frames_total", 1)
		v.waitMetric(t, "vigil_input_framing_errors_total", 1)
		// truncated frame, huge line, 2 UDP junk, 2 TCP junk, 2 bad JSON, framing line (Unknown format).
		v.waitMetric(t, "vigil_index_parse_errors_total", 8)
	})
	// Still serving, still accepting.
	last := token("last")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(octetCounted(rfc5424(14, "h6", "okapp", last)))
	c.Close()
	v.waitOne(t, last)
	if code := v.stop(t); code != 0 {
		t.Errorf("vigil exit code after SIGTERM = %d, want 0", code)
	}
}
