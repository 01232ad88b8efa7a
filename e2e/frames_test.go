package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// longMessage returns an RFC 5424 message of exactly size bytes holding tok.
func longMessage(tok string, size int) string {
	m := rfc5424(14, "bighost", "bigapp", tok+" ")
	return m + strings.Repeat("x", size-len(m))
}

// TestLongMessages sends messages of max_message_size at its documented
// maximum (16 MiB), octet-counted and LF-terminated, and longer ones, each
// followed by a short message on the same connection: the long ones are
// journaled whole (the longer ones cut to max_message_size and flagged),
// and no short one is lost.
func TestLongMessages(t *testing.T) {
	t.Parallel()
	addr, small := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	v := startVigil(t, vigilOpts{syslogPort: -1, config: fmt.Sprintf(`inputs:
  syslog:
    - name: syslog
      addr: %q
      max_message_size: 16MiB
    - name: small
      addr: %q
      max_message_size: 1MiB
`, addr, small)})
	const max = 16 << 20
	tests := []struct {
		name    string
		addr    string
		size    int
		octet   bool
		wantLen int
	}{
		{"octet counted", addr, max, true, max},
		{"lf terminated", addr, max, false, max},
		{"lf terminated over the maximum", addr, max + 1000, false, max},
		// Octet counts above 16 MiB are no octet counts (docs/durability.md).
		{"octet counted over max_message_size", small, 2 << 20, true, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, after := token("big"), token("after")
			long := longMessage(tok, tt.size)
			short := rfc5424(14, "h", "app", after)
			c, err := net.Dial("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriter(c)
			if tt.octet {
				w.Write(octetCounted(long))
				w.Write(octetCounted(short))
			} else {
				w.WriteString(long + "\n" + short + "\n")
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("send: %v", err)
			}
			c.Close()
			v.waitOne(t, after)
			ev := v.waitOne(t, tok)
			raw := v.raw(t, ev["vigil.seq"])
			if len(raw["data"]) != tt.wantLen || !strings.HasPrefix(long, raw["data"]) {
				t.Errorf("the journal holds %d bytes of a %d-byte message, want its first %d", len(raw["data"]), tt.size, tt.wantLen)
			}
			if want := strconv.FormatBool(tt.size > tt.wantLen); raw["truncated"] != want || ev["vigil.truncated"] != map[bool]string{true: "true"}[tt.size > tt.wantLen] {
				t.Errorf("journal record truncated = %q, event vigil.truncated = %q, want %s", raw["truncated"], ev["vigil.truncated"], want)
			}
		})
	}
	m := v.metrics(t)
	for series, want := range map[string]float64{
		"vigil_input_truncated_total":      2,
		"vigil_input_framing_errors_total": 0,
		"vigil_input_dropped_total":        0,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
}

// TestPartialFramesMemory opens 200 connections (from 200 addresses) that
// each send 4 MiB of a longer octet-counted frame and stop, with
// max_message_size at 16 MiB: the memory they hold is bounded by
// max_buffer_memory (256 MiB by default), whatever they do. It logs the
// peak RSS, the number quoted in docs/durability.md.
func TestPartialFramesMemory(t *testing.T) {
	v := startWithInput(t, "max_message_size: 16MiB")
	addr := v.syslogAddr
	const conns, frame = 200, 4 << 20
	body := make([]byte, frame)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	hdr := fmt.Sprintf("%d ", frame+1) // one byte never comes
	var wg sync.WaitGroup
	var mu sync.Mutex
	var written, failed int
	start := make(chan struct{}) // all at once, once all are connected
	var clients []net.Conn
	for i := range conns {
		c := dialFrom(t, fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250), addr)
		clients = append(clients, c)
		wg.Go(func() {
			<-start
			_, err := c.Write(append([]byte(hdr), body...))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
			} else {
				written++
			}
		})
	}
	close(start)
	// Settled: every connection has handed its bytes to the kernel, and
	// Vigil read them all from its sockets, or closed them.
	wg.Wait()
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	waitFor(t, "vigil to read or close every connection", func() bool { return unread(t, port) == 0 })
	m := v.metrics(t)
	peak := vmHWM(t, v.cmd.Process.Pid)
	t.Logf("%d connections sent a partial %d-byte frame, %d were closed; peak RSS %d MiB; buffers %v MiB, %v waits, %v closed for memory",
		written, frame, failed, peak>>20, m["vigil_input_buffer_bytes"]/(1<<20), m["vigil_input_buffer_waits_total"],
		m["vigil_input_connections_closed_total"])
	if b := m["vigil_input_buffer_bytes"]; b > 256<<20 {
		t.Errorf("vigil_input_buffer_bytes = %v, above max_buffer_memory", b)
	}
	// The senders give up: what each had sent is stored, cut short.
	for _, c := range clients {
		c.Close()
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		n, err := v.count("vigil.truncated:true")
		if err == nil && n == conns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d partial frames stored after 3 minutes (%v)", n, conns, err)
		}
	}
	peak2 := vmHWM(t, v.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB after storing the %d partial frames", peak2>>20, conns)
	// 5.1 GB before max_buffer_memory (docs/durability.md).
	if peak2 > 2<<30 {
		t.Errorf("peak RSS %d MiB with max_buffer_memory 256 MiB", peak2>>20)
	}
	// A sender with a whole message still gets through.
	tok := token("afterpartial")
	sendTCP(t, addr, octetCounted(rfc5424(14, "h", "app", tok)))
	v.waitOne(t, tok)
}

// vmHWM returns a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// unread returns the bytes waiting in the receive queues of the
// established TCP sockets on local port (from /proc/net/tcp).
func unread(t *testing.T, port int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[3] != "01" || !strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		q, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			t.Fatalf("/proc/net/tcp: %q: %v", line, err)
		}
		n += q
	}
	return n
}
