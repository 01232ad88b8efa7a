package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startKfake runs cmd/vigil-kfake (a Kafka-protocol broker) and returns
// its address.
func startKfake(t *testing.T, topics string) string {
	t.Helper()
	return startReady(t, exec.Command(kfakeBin, "-addr", "127.0.0.1:0", "-topics", topics), "vigil-kfake")
}

// startReady starts cmd, which prints "READY host:port" on stdout once it
// serves, and returns that address; the process is killed at cleanup.
func startReady(t *testing.T, cmd *exec.Cmd, name string) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "READY "); ok {
				ready <- addr
			}
		}
	}()
	select {
	case addr := <-ready:
		return addr
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not say READY", name)
	}
	return ""
}

// tailToKcat ships file to topic the way the original deployment did:
// tail -F file | kcat -P -b broker -t topic. It returns a function that
// stops tail once the file's lines are out, so kcat sends what it holds
// back and exits.
func tailToKcat(t *testing.T, kcat, file, broker, topic string) (stop func()) {
	t.Helper()
	tail := exec.Command("tail", "-n", "+1", "-F", file)
	prod := exec.Command(kcat, "-P", "-b", broker, "-t", topic)
	pipe, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	prod.Stdin = pipe
	prod.Stderr = os.Stderr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	if err := prod.Start(); err != nil {
		t.Fatal(err)
	}
	return func() {
		time.Sleep(500 * time.Millisecond) // let tail read the last lines
		_ = tail.Process.Kill()
		_ = tail.Wait()
		done := make(chan error, 1)
		go func() { done <- prod.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kcat: %v", err)
			}
		case <-time.After(waitTimeout):
			_ = prod.Process.Kill()
			t.Error("kcat did not exit after its input ended")
		}
	}
}

// TestKafkaInput: nginx access logs shipped with tail -F | kcat into a
// Kafka-protocol broker are read by Vigil's Kafka input as a consumer
// group, parsed like syslog payloads and searchable; after a restart the
// group resumes where it committed, so nothing is read twice or skipped.
func TestKafkaInput(t *testing.T) {
	kcat := requireProgram(t, "kcat")
	broker := startKfake(t, "nginx")
	dir := t.TempDir()
	cfg := fmt.Sprintf("inputs:\n  kafka:\n    - brokers: [%s]\n      topics: [nginx]\n", broker)
	dataDir := filepath.Join(dir, "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir, config: cfg})

	now := time.Now().UTC().Add(-time.Minute)
	line := func(i int, ip string) string {
		return fmt.Sprintf(`{"source":"192.168.0.8", "ip":"%s","user":"user%d@corp.example","time_local":"%s","statuscode":401,"bytes_sent":328,"http_referer":"","http_user_agent":"Apple-iPhone14C2/2006.100","request_uri":"/Microsoft-Server-ActiveSync?User=user%d&DeviceId=KAFKA%d&DeviceType=iPhone&Cmd=Sync","request_time":0.01,"gzip_ration":"","query_string":"User=user%d&DeviceId=KAFKA%d&DeviceType=iPhone&Cmd=Sync"}`,
			ip, i, now.Format("02/Jan/2006:15:04:05 -0700"), i, i, i, i)
	}
	file := filepath.Join(dir, "access.log")
	write := func(from, to int, ip string) {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintln(f, line(i, ip))
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 300, "203.0.113.80")
	stop := tailToKcat(t, kcat, file, broker, "nginx")
	write(300, 500, "203.0.113.80")
	stop()
	got := v.waitEvents(t, "vigil.input:kafka source.ip:203.0.113.80", 500)
	e := got[0]
	if e["event.dataset"] != "nginx.access" || e["network.protocol"] != "activesync" || e["event.outcome"] != "failure" ||
		!strings.HasPrefix(e["device.id"], "KAFKA") {
		t.Errorf("event from Kafka: %v", e)
	}
	// The built-in rules see Kafka events too: 500 failures from one address.
	v.waitAlert(t, `event.dataset:vigil.alert rule.id:"brute-force-source" source.ip:203.0.113.80`)

	// Stop, produce more while Vigil is down, start again: the group
	// resumes at its committed offsets.
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exited %d", code)
	}
	more := exec.Command(kcat, "-P", "-b", broker, "-t", "nginx")
	var b strings.Builder
	for i := range 100 {
		b.WriteString(line(1000+i, "203.0.113.81") + "\n")
	}
	more.Stdin = strings.NewReader(b.String())
	if out, err := more.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir, config: cfg})
	v.waitEvents(t, "vigil.input:kafka source.ip:203.0.113.81", 100)
	if n, err := v.count("vigil.input:kafka"); err != nil || n != 600 {
		t.Errorf("%d events from Kafka after the restart (err %v), want 600: none twice, none skipped", n, err)
	}
}

// TestSyslogOutput: Vigil forwards what it receives to another syslog
// server (the job of the relay it replaces), as received and as normalized
// JSON; a receiver that is down meanwhile gets everything once it is back.
func TestSyslogOutput(t *testing.T) {
	var got collector
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var connMu sync.Mutex
	var conns []net.Conn
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connMu.Lock()
			conns = append(conns, c)
			connMu.Unlock()
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					got.add(sc.Text())
				}
			}()
		}
	}
	go serve(ln)
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  enabled: false
outputs:
  syslog:
    - name: relay
      address: %s
      framing: newline
    - name: json
      address: %s
      framing: newline
      payload: json
`, syslogPort, addr, addr)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})
	in := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	now := time.Now().UTC().Add(-time.Minute)
	sendLines(t, in, []string{imapLine(now, "203.0.113.90", "fwd1", false)})
	got.wait(t, "original line", func(s string) bool { return strings.HasPrefix(s, "<134>") && strings.Contains(s, "fwd1") })
	got.wait(t, "normalized JSON", func(s string) bool {
		return strings.Contains(s, " vigil - event ") && strings.Contains(s, `"user.name":"fwd1"`) && strings.Contains(s, `"event.outcome":"failure"`)
	})

	// The receiver goes away (listener and connections); what arrives
	// meanwhile is forwarded later.
	ln.Close()
	connMu.Lock()
	for _, c := range conns {
		c.Close()
	}
	connMu.Unlock()
	time.Sleep(200 * time.Millisecond)
	var lines []string
	for i := range 50 {
		lines = append(lines, imapLine(now, "203.0.113.91", fmt.Sprintf("late%d", i), false))
	}
	sendLines(t, in, lines)
	v.waitEvents(t, "source.ip:203.0.113.91", 50)
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go serve(ln2)
	for i := range 50 {
		user := fmt.Sprintf("late%d,", i)
		got.wait(t, "message after the outage", func(s string) bool { return strings.HasPrefix(s, "<134>") && strings.Contains(s, user) })
	}
	_, body, _ := v.get("/api/v1/status", true)
	var st struct {
		Outputs []struct {
			Name string `json:"name"`
			Sent uint64 `json:"sent"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &st); err != nil || len(st.Outputs) != 2 || st.Outputs[0].Name != "relay" || st.Outputs[0].Sent < 51 {
		t.Errorf("status of the outputs: %+v (%v)", st, err)
	}
}

// TestKafkaOutput: normalized events go to a topic keyed by source.ip,
// read back with real kcat -C; events journaled while the broker is down
// arrive after it is back.
func TestKafkaOutput(t *testing.T) {
	kcat := requireProgram(t, "kcat")
	port := freePort(t)
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	syslogPort := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\ndetect:\n  enabled: false\noutputs:\n  kafka:\n    - name: events\n      brokers: [%s]\n      topic: vigil-events\n", syslogPort, broker)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})
	in := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	now := time.Now().UTC().Add(-time.Minute)
	var lines []string
	for i := range 40 {
		lines = append(lines, imapLine(now, fmt.Sprintf("203.0.113.%d", 100+i%4), fmt.Sprintf("kout%d", i), false))
	}
	// The broker is not up yet: the output waits, the journal keeps them.
	sendLines(t, in, lines)
	v.waitEvents(t, "source.ip:203.0.113.100", 10)

	kf := exec.Command(kfakeBin, "-addr", broker, "-topics", "vigil-events")
	kf.Stderr = os.Stderr
	if err := kf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = kf.Process.Kill(); _ = kf.Wait() }()

	seen := map[string]string{} // user -> key
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < 40 && time.Now().Before(deadline) {
		out, _ := exec.Command(kcat, "-C", "-b", broker, "-t", "vigil-events", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n").Output()
		for _, l := range strings.Split(string(out), "\n") {
			key, val, ok := strings.Cut(l, "\t")
			if !ok {
				continue
			}
			var ev map[string]string
			if err := json.Unmarshal([]byte(val), &ev); err != nil {
				t.Fatalf("value %q: %v", val, err)
			}
			if key != ev["source.ip"] || ev["event.dataset"] != "exchange.imap" {
				t.Fatalf("record key %q for %v", key, ev)
			}
			seen[ev["user.name"]] = key
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(seen) != 40 {
		t.Fatalf("%d of 40 events in the topic", len(seen))
	}
}
