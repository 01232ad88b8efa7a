// Package e2e tests the vigil binary end to end: it builds it once, runs it
// as a real process on loopback ports and feeds it with real senders
// (logger, nginx, rsyslog) and raw sockets, then checks what the HTTP API,
// the CLI, /metrics and the journal say.
//
// Tests that need an external program skip when it is missing, unless the
// CI environment variable is set: then they fail, since
// scripts/install-test-deps.sh installs everything they need.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// vigilBin is the path of the binary built by TestMain. It is set once,
// before any test runs, and never changed afterwards.
var vigilBin string

// kfakeBin is cmd/vigil-kfake (a Kafka-protocol broker), built by TestMain.
var kfakeBin string

// waitTimeout bounds every poll for an event to become searchable. It is
// generous on purpose: tests never assert how fast something happens.
const waitTimeout = 15 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vigil-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	vigilBin = filepath.Join(dir, "vigil")
	gobin := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	build := exec.Command(gobin, "build", "-o", vigilBin, "./cmd/vigil")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/vigil failed: %v\n%s", err, out)
		return 1
	}
	kfakeBin = filepath.Join(dir, "vigil-kfake")
	build = exec.Command(gobin, "build", "-o", kfakeBin, "./cmd/vigil-kfake")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/vigil-kfake failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot returns the directory holding go.mod (the parent of e2e/).
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// deployFile returns the path of an example under deploy/.
func deployFile(t *testing.T, rel string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy", filepath.FromSlash(rel))
}

// templateFile reads an example file and applies the replacements, failing
// the test when one of the old strings is missing: the example and the test
// must not drift apart silently.
func templateFile(t *testing.T, path string, oldnew ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(oldnew); i += 2 {
		if !strings.Contains(s, oldnew[i]) {
			t.Fatalf("%s no longer contains %q; update the example or the test", path, oldnew[i])
		}
		s = strings.ReplaceAll(s, oldnew[i], oldnew[i+1])
	}
	return s
}

// requireProgram returns the path of an external program. When it is
// missing the test is skipped, or fails under CI.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		cand := filepath.Join(dir, name)
		if st, err := os.Stat(cand); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return cand
		}
	}
	msg := fmt.Sprintf("%s is not installed (scripts/install-test-deps.sh installs it)", name)
	if os.Getenv("CI") != "" || os.Getenv("VIGIL_TEST_STRICT") != "" {
		t.Fatal(msg + "; failing because CI or VIGIL_TEST_STRICT is set")
	}
	t.Skip(msg + "; skipping (set CI=1 to make this a failure)")
	return ""
}

// freePort returns a loopback port that is free for TCP and UDP alike.
// givenPorts holds the ports freePort has returned.
var givenPorts sync.Map

func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		// The kernel may hand a closed port out again at once: two calls
		// before the first port is bound (a server's syslog and http
		// ports) got the same one. A port is given once per test run.
		if _, taken := givenPorts.LoadOrStore(port, true); taken {
			continue
		}
		return port
	}
	t.Fatal("no free loopback port for TCP and UDP")
	return 0
}

// tail returns at most the last n bytes of a file.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if st.Size() > n {
		if _, err := f.Seek(st.Size()-n, io.SeekStart); err != nil {
			return err.Error()
		}
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// proc is an external process whose output goes to a log file that is shown
// when the test fails.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid after done is closed
}

// startProc starts a program with stdout and stderr going to logPath.
// Cleanup kills it if it is still running and shows its log on failure.
func startProc(t *testing.T, name, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("---- %s log (%s), last 16 KiB ----\n%s\n---- end of %s log ----", name, logPath, tail(logPath, 16<<10), name)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit code (-1 when it
// died from a signal), failing the test after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %s; killed it", p.name, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and waits for the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if p.exited() {
		return p.cmd.ProcessState.ExitCode()
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	return p.wait(t, 60*time.Second)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// vigil is one running vigil serve process.
type vigil struct {
	*proc
	dataDir    string
	httpURL    string
	syslogAddr string // "" when the test configured inputs itself
	token      string
}

// vigilOpts configure startVigil.
type vigilOpts struct {
	dataDir    string // default: a new temporary directory
	httpPort   int    // default: a free port
	syslogPort int    // default: a free port; -1: no --syslog flag
	config     string // YAML written to a file and passed with --config
}

// startVigil starts vigil serve and waits until /healthz answers. When it
// chose the ports itself and one was taken meanwhile, it tries new ones.
func startVigil(t *testing.T, o vigilOpts) *vigil {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	retry := o.httpPort == 0 && o.syslogPort == 0 && o.config == ""
	for attempt := 1; ; attempt++ {
		oo := o
		if oo.httpPort == 0 {
			oo.httpPort = freePort(t)
		}
		if oo.syslogPort == 0 {
			oo.syslogPort = freePort(t)
		}
		v, err := tryStartVigil(t, oo)
		if err == nil {
			return v
		}
		if retry && attempt < 3 && strings.Contains(tail(v.logPath, 4<<10), "address already in use") {
			t.Logf("vigil start: %v; a port was taken, retrying with new ports", err)
			continue
		}
		t.Fatal(err)
	}
}

func tryStartVigil(t *testing.T, o vigilOpts) (*vigil, error) {
	t.Helper()
	v := &vigil{dataDir: o.dataDir, httpURL: fmt.Sprintf("http://127.0.0.1:%d", o.httpPort)}
	args := []string{vigilBin, "serve", "--data", o.dataDir, "--http", fmt.Sprintf("127.0.0.1:%d", o.httpPort)}
	if o.syslogPort > 0 {
		v.syslogAddr = fmt.Sprintf("127.0.0.1:%d", o.syslogPort)
		args = append(args, "--syslog", v.syslogAddr)
	}
	logDir := t.TempDir()
	if o.config != "" {
		cfg := filepath.Join(logDir, "vigil.yaml")
		if err := os.WriteFile(cfg, []byte(o.config), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	logPath := filepath.Join(logDir, "vigil.log")
	v.proc = startProc(t, "vigil", logPath, args...)
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := http.Get(v.httpURL + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var h struct{ Status string }
				if err := json.Unmarshal(body, &h); err != nil || h.Status != "ok" {
					return v, fmt.Errorf("/healthz: body %q, want {\"status\":\"ok\"}", body)
				}
				break
			}
		}
		if v.exited() {
			return v, fmt.Errorf("vigil exited during start: %v", v.err)
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("vigil /healthz did not answer within %s (last error: %v)", waitTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(o.dataDir, "api-token"))
	if err != nil {
		return v, fmt.Errorf("vigil wrote no API token: %v", err)
	}
	v.token = strings.TrimSpace(string(tok))
	return v, nil
}

// event is one search result: every value is a string.
type event map[string]string

// searchParams are the optional parameters of a search.
type searchParams struct {
	limit int
	order string
	start string
	end   string
	scope string // "alerts" searches the alerts; "" the events
}

// search runs one query through the HTTP API.
func (v *vigil) search(q string, p searchParams) ([]event, error) {
	vals := url.Values{"q": {q}}
	if p.limit > 0 {
		vals.Set("limit", strconv.Itoa(p.limit))
	}
	if p.order != "" {
		vals.Set("order", p.order)
	}
	if p.start != "" {
		vals.Set("start", p.start)
	}
	if p.end != "" {
		vals.Set("end", p.end)
	}
	if p.scope != "" {
		vals.Set("scope", p.scope)
	}
	status, body, err := v.get("/api/v1/search?"+vals.Encode(), true)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("search %q: HTTP %d: %s", q, status, bytes.TrimSpace(body))
	}
	return parseEvents(body)
}

// parseEvents decodes JSON lines whose values must all be strings.
func parseEvents(body []byte) ([]event, error) {
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal(line, &raw); err != nil {
			return nil, fmt.Errorf("result line is not JSON: %v: %.300q", err, line)
		}
		if e, ok := raw["error"]; ok && len(raw) == 1 {
			return nil, fmt.Errorf("search failed mid-stream: %v", e)
		}
		ev := make(event, len(raw))
		for k, val := range raw {
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("field %q is %T, want a string: %.300q", k, val, line)
			}
			ev[k] = s
		}
		evs = append(evs, ev)
	}
	return evs, sc.Err()
}

// get fetches a path of the HTTP API.
func (v *vigil) get(path string, auth bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.httpURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitEvents polls a query until it returns at least n events and returns
// them, failing the test after waitTimeout.
// raw returns the journal record behind an event (its exact received
// bytes) through GET /api/v1/journal.
func (v *vigil) raw(t *testing.T, seq string) event {
	t.Helper()
	status, body, err := v.get("/api/v1/journal?from="+seq, true)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/v1/journal?from=%s: %d %v %s", seq, status, err, body)
	}
	recs, err := parseEvents(body)
	if err != nil || len(recs) != 1 || recs[0]["seq"] != seq {
		t.Fatalf("GET /api/v1/journal?from=%s: want one record with that seq, got %v (%v)", seq, recs, err)
	}
	return recs[0]
}

func (v *vigil) waitEvents(t *testing.T, q string, n int) []event {
	t.Helper()
	return v.waitScope(t, "", q, n)
}

// waitAlerts polls a query of the alerts (scope=alerts) until it returns
// at least n alerts and returns them.
func (v *vigil) waitAlerts(t *testing.T, q string, n int) []event {
	t.Helper()
	return v.waitScope(t, "alerts", q, n)
}

// waitAlert polls a query of the alerts until it returns exactly one.
func (v *vigil) waitAlert(t *testing.T, q string) event {
	t.Helper()
	return onlyOne(t, q, v.waitAlerts(t, q, 1))
}

// onlyOne returns the one result of query q, failing the test when there
// are more.
func onlyOne(t *testing.T, q string, evs []event) event {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("query %q: got %d results, want 1: %v", q, len(evs), evs)
	}
	return evs[0]
}

func (v *vigil) waitScope(t *testing.T, scope, q string, n int) []event {
	t.Helper()
	var (
		evs []event
		err error
	)
	deadline := time.Now().Add(waitTimeout)
	for {
		evs, err = v.search(q, searchParams{scope: scope})
		if err == nil && len(evs) >= n {
			return evs
		}
		if v.exited() {
			t.Fatalf("vigil exited (%v) while waiting for %q", v.err, q)
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %q: got %d events (err %v), want at least %d within %s; got %v", q, len(evs), err, n, waitTimeout, evs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitOne polls a query until it returns exactly one event.
func (v *vigil) waitOne(t *testing.T, q string) event {
	t.Helper()
	return onlyOne(t, q, v.waitEvents(t, q, 1))
}

// count returns the result of `QUERY | stats count() as n`.
func (v *vigil) count(q string) (int, error) { return v.countScope("", q) }

// countAlerts returns the result of `QUERY | stats count() as n` over the
// alerts.
func (v *vigil) countAlerts(q string) (int, error) { return v.countScope("alerts", q) }

func (v *vigil) countScope(scope, q string) (int, error) {
	evs, err := v.search(q+" | stats count() as n", searchParams{scope: scope})
	if err != nil {
		return 0, err
	}
	if len(evs) != 1 {
		return 0, fmt.Errorf("stats query %q: %d rows, want 1: %v", q, len(evs), evs)
	}
	return strconv.Atoi(evs[0]["n"])
}

// metrics returns /metrics parsed into sums by metric name (all label sets
// added up) and by the full series text (name{labels}).
func (v *vigil) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	status, body, err := v.get("/metrics", false)
	if err != nil || status != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d, %v: %.500s", status, err, body)
	}
	return parseMetrics(body)
}

func parseMetrics(body []byte) map[string]float64 {
	m := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, val := line[:i], line[i+1:]
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		m[series] += f
		if j := strings.IndexByte(series, '{'); j >= 0 {
			m[series[:j]] += f
		}
	}
	return m
}

// waitMetric polls /metrics until the named value reaches min.
func (v *vigil) waitMetric(t *testing.T, name string, min float64) float64 {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := v.metrics(t)[name]
		if got >= min {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s = %v, want >= %v within %s", name, got, min, waitTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status returns /api/v1/status.
func (v *vigil) status(t *testing.T) map[string]any {
	t.Helper()
	code, body, err := v.get("/api/v1/status", true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/api/v1/status: HTTP %d, %v: %.500s", code, err, body)
	}
	var st map[string]any
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/api/v1/status is not JSON: %v: %.500s", err, body)
	}
	return st
}

// runVigil runs a short vigil command and returns its stdout, stderr and
// exit code.
func runVigil(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vigilBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
	default:
		t.Fatalf("run vigil %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// token returns a word unique to this test run, for finding its events.
func token(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// sendUDP sends each message as one datagram.
func sendUDP(t *testing.T, addr string, msgs ...[]byte) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range msgs {
		if _, err := c.Write(m); err != nil {
			t.Fatalf("send UDP: %v", err)
		}
	}
}

// sendTCP writes data on one connection and closes it.
func sendTCP(t *testing.T, addr string, data ...[]byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if _, err := c.Write(d); err != nil {
			c.Close()
			t.Fatalf("send TCP: %v", err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close TCP: %v", err)
	}
}

// rfc5424 returns a syslog message with the current time.
func rfc5424(pri int, host, app, msg string) string {
	return fmt.Sprintf("<%d>1 %s %s %s - - - %s", pri, time.Now().UTC().Format(time.RFC3339Nano), host, app, msg)
}

// octetCounted frames a message as RFC 6587 "LEN SP MSG".
func octetCounted(msg string) []byte {
	return []byte(strconv.Itoa(len(msg)) + " " + msg)
}

// checkFields compares selected fields of an event.
func checkFields(t *testing.T, ev event, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got, ok := ev[k]; !ok || got != w {
			t.Errorf("field %s = %q (present %v), want %q\nevent: %v", k, got, ok, w, ev)
		}
	}
}

// checkCommon checks the fields every event carries.
func checkCommon(t *testing.T, ev event, input string) {
	t.Helper()
	for _, k := range []string{"_time", "_msg", "vigil.seq", "vigil.input", "vigil.received", "log.syslog.format"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("event lacks %s: %v", k, ev)
		}
	}
	if ev["vigil.input"] != input {
		t.Errorf("vigil.input = %q, want %q", ev["vigil.input"], input)
	}
	if _, err := strconv.ParseUint(ev["vigil.seq"], 10, 64); err != nil {
		t.Errorf("vigil.seq %q is not a number", ev["vigil.seq"])
	}
	for _, k := range []string{"_time", "vigil.received"} {
		ts, err := time.Parse(time.RFC3339Nano, ev[k])
		if err != nil {
			t.Errorf("%s %q is not RFC3339: %v", k, ev[k], err)
			continue
		}
		// A sanity check of the time zone handling, not of speed.
		if d := time.Since(ts); d < -time.Hour || d > time.Hour {
			t.Errorf("%s %q is %s away from now", k, ev[k], d)
		}
	}
	if a := ev["log.source.address"]; a != "" {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("log.source.address %q is not 127.0.0.1:PORT", a)
		}
	}
}

// checkFormat compares log.syslog.format ignoring case: the contract writes
// RFC5424, the schema may spell it rfc5424.
func checkFormat(t *testing.T, ev event, want string) {
	t.Helper()
	if got := ev["log.syslog.format"]; !strings.EqualFold(got, want) {
		t.Errorf("log.syslog.format = %q, want %q", got, want)
	}
}
