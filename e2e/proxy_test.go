package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proxyConf is the nginx in front of the test's upstream: {{http}} and
// {{server}} are the deployment snippets (deploy/nginx/), templated.
const proxyConf = `daemon off;
master_process off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log info;
{{modules}}
events { worker_connections 64; }
http {
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    log_format vigil '$remote_addr "$request" $status {{logvars}} reason="$vigil_reason"';
    access_log {{dir}}/access.log vigil;
    include {{dir}}/http.conf;
    server {
        listen 127.0.0.1:{{port}};
        server_name localhost;
        include {{dir}}/server.conf;
        location / { proxy_pass http://{{upstream}}; }
    }
}
`

// luaModules are the load_module lines of Debian's libnginx-mod-http-lua
// (the test's nginx.conf does not include /etc/nginx/modules-enabled).
var luaModules = []string{"/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so"}

// proxy is a running nginx in front of an upstream that answers every
// request with 200 "upstream".
type proxy struct {
	base string
	dir  string
}

// startProxy runs nginx with the given http- and server-level snippets
// (files already templated) in front of a Go upstream.
func startProxy(t *testing.T, httpPart, serverPart string, modules []string, extra map[string]string) *proxy {
	t.Helper()
	nginx := requireProgram(t, "nginx")
	var loads strings.Builder
	for _, m := range modules {
		if _, err := os.Stat(m); err != nil {
			msg := fmt.Sprintf("%s is missing: libnginx-mod-http-lua is not installed (scripts/install-test-deps.sh installs it)", m)
			if os.Getenv("CI") != "" || os.Getenv("VIGIL_TEST_STRICT") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		fmt.Fprintf(&loads, "load_module %s;\n", m)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == "POST" && r.URL.Path == "/owa/auth.owa" {
			// Exchange's answer to a wrong password.
			http.Redirect(w, r, "https://mail.example.com/owa/auth/logon.aspx?url=https%3a%2f%2fmail.example.com%2fowa%2f&reason=2", http.StatusFound)
			return
		}
		io.WriteString(w, "upstream")
	})}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	files := map[string]string{"http.conf": httpPart, "server.conf": serverPart}
	for k, v := range extra {
		files[k] = v
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "{{dir}}", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logvars := "-"
	if strings.Contains(serverPart, "$vigil_status") {
		logvars = "vigil=$vigil_status key=$vigil_cache_key"
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{logvars}}", logvars, "{{port}}", strconv.Itoa(port), "{{modules}}", loads.String(),
		"{{upstream}}", ln.Addr().String()).Replace(proxyConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ng := startProc(t, "nginx", filepath.Join(dir, "nginx.out"), nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- nginx error.log ----\n%s", tail(filepath.Join(dir, "error.log"), 8<<10))
			t.Logf("---- nginx access.log ----\n%s", tail(filepath.Join(dir, "access.log"), 8<<10))
		}
	})
	waitListening(t, ng, fmt.Sprintf("127.0.0.1:%d", port))
	return &proxy{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir}
}

// req is one client request through the proxy.
type req struct {
	method, path, basic, body string
	from                      string // the client's loopback address; "" 127.0.0.1
}

// clientFrom returns an HTTP client connecting from the loopback address
// from, which follows no redirect.
func clientFrom(from string) *http.Client {
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends r and returns the status; 200 only when the upstream answered.
func (p *proxy) do(t *testing.T, r req) int {
	t.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	hr, err := http.NewRequest(r.method, p.base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.basic != "" {
		hr.SetBasicAuth(r.basic, "secret")
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := clientFrom(r.from).Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && string(b) != "upstream" {
		t.Fatalf("%s %s: 200 not from the upstream: %q", r.method, r.path, b)
	}
	return resp.StatusCode
}

// expect checks that r gets want now.
func (p *proxy) expect(t *testing.T, r req, want int) {
	t.Helper()
	if got := p.do(t, r); got != want {
		t.Fatalf("%s %s (user %q): HTTP %d, want %d", r.method, r.path, r.basic, got, want)
	}
}

// eventually polls until r gets want (a change reaches nginx after its
// cache entry or the next pull): no timed assertion, a generous deadline.
func (p *proxy) eventually(t *testing.T, r req, want int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := p.do(t, r)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s (user %q): still HTTP %d after %s, want %d", r.method, r.path, r.basic, got, waitTimeout, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// easQuery is a plain-form ActiveSync query.
func easQuery(user, device string) string {
	return "/Microsoft-Server-ActiveSync?Cmd=Sync&User=" + user + "&DeviceId=" + device + "&DeviceType=iPhone"
}

// easBase64 is a base64-form ActiveSync request ([MS-ASHTTP] 2.2.1.1.1.1)
// of device, without a User parameter (the user is Basic auth's).
func easBase64(device string) string {
	b := []byte{141, 0, 0x09, 0x04, byte(len(device))}
	b = append(b, device...)
	b = append(b, 0, 6)
	b = append(b, "iPhone"...)
	return "/Microsoft-Server-ActiveSync?" + base64.StdEncoding.EncodeToString(b)
}

// registryVigil starts vigil with a device registry holding alice's
// REGPHONE1 and bob's REGPHONE2, and enforce.devices set to mode.
func registryVigil(t *testing.T, mode string) *vigil {
	t.Helper()
	v, _ := registryVigilSyslog(t, mode)
	return v
}

// registryVigilSyslog is registryVigil, also returning its syslog port.
func registryVigilSyslog(t *testing.T, mode string) (*vigil, int) {
	t.Helper()
	dir := t.TempDir()
	listsDir := filepath.Join(dir, "lists")
	if err := os.MkdirAll(listsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	reg := "name: devices\nkind: device\nentries:\n  - user: alice\n    device: REGPHONE1\n  - user: bob\n    device: REGPHONE2\n"
	if err := os.WriteFile(filepath.Join(listsDir, "devices.yaml"), []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\ndetect:\n  lists_dir: %s\nenforce:\n  devices: %s\n",
		port, listsDir, mode)
	return startVigil(t, vigilOpts{dataDir: filepath.Join(dir, "data"), syslogPort: -1, config: cfg}), port
}

// loggingProxy runs nginx with deploy/nginx's auth_request files and its
// access log sent to v's syslog port.
func loggingProxy(t *testing.T, v *vigil, syslogPort int) *proxy {
	t.Helper()
	vigilAddr := strings.TrimPrefix(v.httpURL, "http://")
	accessLog := templateFile(t, deployFile(t, "nginx/vigil-access-log.conf"),
		"syslog:server=127.0.0.1:5514,", fmt.Sprintf("syslog:server=127.0.0.1:%d,", syslogPort))
	httpPart := templateFile(t, deployFile(t, "nginx/vigil-enforce-http.conf"),
		"127.0.0.1:8514", vigilAddr, "/var/cache/nginx/vigil", "{{dir}}/cache") + "\n" + accessLog
	serverPart := templateFile(t, deployFile(t, "nginx/vigil-enforce.conf"), "CHANGE-ME-BOUNCER-KEY", bouncerKey(t, v, "nginx"))
	p := startProxy(t, httpPart, serverPart, nil, nil)
	return p
}

// bouncerKey adds a bouncer with vigil bouncers add and returns its key
// (the last line of the output).
func bouncerKey(t *testing.T, v *vigil, name string) string {
	t.Helper()
	out, errOut, code := runVigil(t, "bouncers", "add", "--server", v.httpURL, "--data", v.dataDir, name)
	if code != 0 {
		t.Fatalf("vigil bouncers add %s: exit %d: %s%s", name, code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// revoke revokes user's device in the registry through the API.
func revoke(t *testing.T, v *vigil, user, device string) {
	t.Helper()
	code, body := v.call(t, "POST", "/api/v1/devices/"+device+"/revoke", `{"user":"`+user+`","reason":"lost"}`)
	if code != http.StatusOK {
		t.Fatalf("revoke %s/%s: %d %s", user, device, code, body)
	}
}

// TestProxyAuthRequest runs Debian's nginx with deploy/nginx's
// auth_request snippets in front of an upstream, Vigil in registered-only
// mode: registered devices pass in both query forms, others are refused,
// a revoked device is refused once nginx's cache entry expires, and
// requests pass (fail open) once Vigil is gone.
func TestProxyAuthRequest(t *testing.T) {
	t.Parallel()
	v := registryVigil(t, "registered-only")
	vigilAddr := strings.TrimPrefix(v.httpURL, "http://")
	httpPart := templateFile(t, deployFile(t, "nginx/vigil-enforce-http.conf"),
		"127.0.0.1:8514", vigilAddr, "/var/cache/nginx/vigil", "{{dir}}/cache")
	serverPart := templateFile(t, deployFile(t, "nginx/vigil-enforce.conf"), "CHANGE-ME-BOUNCER-KEY", bouncerKey(t, v, "nginx"))
	p := startProxy(t, httpPart, serverPart, nil, nil)

	// The check takes a bouncer key or the API token, nothing else.
	for _, h := range [][2]string{{"X-Api-Key", "not-a-key"}, {"Authorization", "Basic YWxpY2U6eA=="}} {
		if c, body := v.do(t, "GET", "/api/v1/enforce/check?ip=198.51.100.1", nil, h[0], h[1]); c != http.StatusUnauthorized {
			t.Errorf("check with %s %q: %d %s, want 401", h[0], h[1], c, body)
		}
	}
	if c, body := v.do(t, "GET", "/api/v1/enforce/check?ip=198.51.100.1", nil, "Authorization", "Bearer "+v.token); c != http.StatusNoContent {
		t.Errorf("check with the API token: %d %s, want 204", c, body)
	}

	owa := req{path: "/owa/"}
	alice := req{path: easQuery("alice", "REGPHONE1")}
	p.expect(t, owa, 200)
	p.expect(t, alice, 200)
	p.expect(t, req{path: easQuery("ALICE", "regphone1")}, 200)                          // any case
	p.expect(t, req{path: easQuery("alice", "UNKNOWN1")}, 403)                           // unregistered
	p.expect(t, req{path: easQuery("bob", "REGPHONE1")}, 403)                            // another user's
	p.expect(t, req{path: easBase64("REGPHONE2"), basic: `CORP\bob`}, 200)               // base64 form, Basic user
	p.expect(t, req{path: easBase64("REGPHONE2"), basic: "alice"}, 403)                  // base64 form, wrong user
	p.expect(t, req{path: "/Microsoft-Server-ActiveSync?Cmd=Sync", basic: "alice"}, 403) // no DeviceId
	if n := v.waitMetric(t, `vigil_enforce_checks_total{result="unregistered-device"}`, 3); n < 3 {
		t.Errorf("unregistered-device checks = %v", n)
	}

	// Revoked: refused from the request after the cache entry expires.
	revoke(t, v, "alice", "REGPHONE1")
	p.eventually(t, alice, 403)
	p.expect(t, req{path: easBase64("REGPHONE2"), basic: "bob"}, 200)

	// Vigil gone: fail open, as the snippet chooses.
	v.stop(t)
	p.eventually(t, req{path: "/owa/?after-stop", basic: "carol"}, 200)
}

// TestProxyLearn: in learn mode an unregistered ActiveSync device passes
// nginx, is counted and logged once; nginx's access log reaches Vigil,
// which proposes registering the device; registered through the API, it
// is no longer proposed. A revoked device that still syncs is never
// proposed.
func TestProxyLearn(t *testing.T) {
	t.Parallel()
	v, syslogPort := registryVigilSyslog(t, "learn")
	p := loggingProxy(t, v, syslogPort)

	revoke(t, v, "bob", "REGPHONE2")
	carol := req{path: easQuery("carol", "NEWPHONE7"), basic: "carol"}
	for range 3 {
		p.expect(t, carol, 200) // unregistered: passes in learn mode
	}
	p.expect(t, req{path: easQuery("alice", "REGPHONE1"), basic: "alice"}, 200)
	p.expect(t, req{path: easQuery("bob", "REGPHONE2"), basic: "bob"}, 200) // revoked: passes too
	if n := v.waitMetric(t, `vigil_enforce_checks_total{result="unknown-device"}`, 2); n < 2 {
		t.Errorf("unknown-device checks = %v", n)
	}
	if n := v.logCount(t, "unregistered ActiveSync device allowed"); n != 2 {
		t.Errorf("learn mode logged %d unregistered devices, want carol's and bob's once each", n)
	}

	type proposals struct {
		Proposals []struct {
			User, Device string
			Logins       int64
		}
	}
	var got proposals
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(100 * time.Millisecond) {
		got = proposals{}
		v.getJSON(t, "/api/v1/devices/proposals", &got)
		if len(got.Proposals) > 0 && got.Proposals[0].Logins == 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(got.Proposals) != 1 || got.Proposals[0].User != "carol" || got.Proposals[0].Device != "NEWPHONE7" || got.Proposals[0].Logins != 3 {
		t.Fatalf("proposals: %+v; want carol's NEWPHONE7 with 3 logins (alice's is registered, bob's revoked)", got)
	}
	if c, body := v.call(t, "POST", "/api/v1/devices", `{"user":"carol","device":"NEWPHONE7","model":"iPhone"}`); c != http.StatusOK && c != http.StatusCreated {
		t.Fatalf("register: %d %s", c, body)
	}
	got = proposals{}
	v.getJSON(t, "/api/v1/devices/proposals", &got)
	if len(got.Proposals) != 0 {
		t.Errorf("proposals after registering: %+v", got)
	}
}

// TestProxyLua runs Debian's nginx with libnginx-mod-http-lua and
// deploy/nginx/lua/vigil.lua, pulling the bouncer stream and the device
// registry from Vigil: the same registry checks as auth_request, decided
// inside nginx, and the registry kept while Vigil is gone.
func TestProxyLua(t *testing.T) {
	t.Parallel()
	v := registryVigil(t, "registered-only") // the module follows Vigil's mode
	key := bouncerKey(t, v, "nginx-lua")

	// The registry for proxies takes a bouncer key or the API token.
	if c, body := v.do(t, "GET", "/api/v1/enforce/devices", nil, "X-Api-Key", "not-a-key"); c != http.StatusUnauthorized {
		t.Errorf("devices with a wrong key: %d %s, want 401", c, body)
	}
	if c, body := v.do(t, "GET", "/api/v1/enforce/devices", nil, "X-Api-Key", key); c != http.StatusOK ||
		!strings.Contains(string(body), `"mode":"registered-only"`) || !strings.Contains(string(body), `{"user":"alice","device":"REGPHONE1"}`) {
		t.Errorf("devices with the key: %d %s", c, body)
	}
	vigilAddr := strings.TrimPrefix(v.httpURL, "http://")
	httpPart := templateFile(t, deployFile(t, "nginx/vigil-lua.conf"),
		"/etc/nginx/lua/", "{{dir}}/lua/",
		"127.0.0.1:8514", vigilAddr,
		"CHANGE-ME-BOUNCER-KEY", key,
		"interval = 2", "interval = 1")
	serverPart := templateFile(t, deployFile(t, "nginx/vigil-lua-server.conf"))
	lua, err := os.ReadFile(deployFile(t, "nginx/lua/vigil.lua"))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, httpPart, serverPart, luaModules, map[string]string{"lua/vigil.lua": string(lua)})

	alice := req{path: easQuery("alice", "REGPHONE1")}
	p.expect(t, req{path: "/owa/"}, 200)
	// The first pull of the registry (until then the module fails open).
	p.eventually(t, req{path: easQuery("alice", "UNKNOWN1")}, 403)
	p.expect(t, alice, 200)
	p.expect(t, req{path: easQuery("bob", "REGPHONE1")}, 403)
	p.expect(t, req{path: easBase64("REGPHONE2"), basic: `CORP\bob`}, 200)
	p.expect(t, req{path: easBase64("REGPHONE2"), basic: "alice"}, 403)
	p.expect(t, req{path: "/Microsoft-Server-ActiveSync?Cmd=Sync", basic: "alice"}, 403)

	revoke(t, v, "alice", "REGPHONE1")
	p.eventually(t, alice, 403)

	// Vigil gone: the registry pulled stays in force.
	v.stop(t)
	p.expect(t, req{path: easBase64("REGPHONE2"), basic: "bob"}, 200)
	p.expect(t, alice, 403)
	p.expect(t, req{path: "/owa/"}, 200)
}

// TestProxyBruteForce closes the loop through real nginx: nginx sends its
// access log to Vigil (deploy/nginx/vigil-access-log.conf) and checks
// every request with auth_request; an OWA password-guessing run from one
// address makes brute-force-source ban it (enforce.enabled, the rule's
// action), and that address's next requests are refused by the
// auth_request nginx and by a second nginx running vigil.lua, while
// another address still passes. The time from the last guess to each
// refusal is logged (docs/benchmarks.md).
func TestProxyBruteForce(t *testing.T) {
	t.Parallel()
	syslogPort := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\nenforce:\n  enabled: true\n  allow_private: true\n", syslogPort)
	v := startVigil(t, vigilOpts{syslogPort: -1, config: cfg})
	vigilAddr := strings.TrimPrefix(v.httpURL, "http://")
	p := loggingProxy(t, v, syslogPort)

	luaHTTP := templateFile(t, deployFile(t, "nginx/vigil-lua.conf"),
		"/etc/nginx/lua/", "{{dir}}/lua/", "127.0.0.1:8514", vigilAddr,
		"CHANGE-ME-BOUNCER-KEY", bouncerKey(t, v, "nginx-lua"))
	lua, err := os.ReadFile(deployFile(t, "nginx/lua/vigil.lua"))
	if err != nil {
		t.Fatal(err)
	}
	pl := startProxy(t, luaHTTP, templateFile(t, deployFile(t, "nginx/vigil-lua-server.conf")), luaModules,
		map[string]string{"lua/vigil.lua": string(lua)})

	const attacker = "127.0.0.2"
	guess := req{method: "POST", path: "/owa/auth.owa", body: "destination=x&flags=4&username=alice&password=guess", from: attacker}
	other := req{path: "/owa/", from: "127.0.0.1"}
	p.expect(t, guess, http.StatusFound) // Exchange's wrong-password redirect
	pl.expect(t, req{path: "/owa/", from: attacker}, 200)
	for range 24 {
		p.expect(t, guess, http.StatusFound)
	}
	// Poll both proxies until each refuses the attacker (no timed
	// assertion: the deadline is generous, the times are only logged).
	last := time.Now()
	var authT, luaT time.Duration
	for deadline := last.Add(waitTimeout); authT == 0 || luaT == 0; time.Sleep(50 * time.Millisecond) {
		// The attacker's next guess: its answer may be cached (3 s).
		if authT == 0 && p.do(t, guess) == http.StatusForbidden {
			authT = time.Since(last)
		}
		if luaT == 0 && pl.do(t, req{path: "/owa/", from: attacker}) == http.StatusForbidden {
			luaT = time.Since(last)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the attacker is not refused within %s: auth_request after %v, lua after %v (0: not yet)", waitTimeout, authT, luaT)
		}
	}
	t.Logf("last guess to refusal: auth_request %v, lua %v", authT.Round(time.Millisecond), luaT.Round(time.Millisecond))
	p.expect(t, req{path: "/owa/?next=1", from: attacker}, http.StatusForbidden)
	p.expect(t, other, 200)
	pl.expect(t, other, 200)
	if n := v.waitMetric(t, `vigil_enforce_checks_total{result="ban"}`, 1); n < 1 {
		t.Errorf("ban checks = %v", n)
	}
}

// addDecision makes an operator's ban through the API and returns its id.
func addDecision(t *testing.T, v *vigil, scope, value, duration string) int64 {
	t.Helper()
	c, body := v.call(t, "POST", "/api/v1/decisions",
		fmt.Sprintf(`{"scope":%q,"value":%q,"duration":%q,"reason":"e2e"}`, scope, value, duration))
	var d struct {
		ID int64 `json:"id"`
	}
	if c != http.StatusCreated || json.Unmarshal(body, &d) != nil || d.ID == 0 {
		t.Fatalf("add decision %s %s: %d %s", scope, value, c, body)
	}
	return d.ID
}

// TestProxyDecisions: operators' bans of a user, a device and a short-lived
// address reach both paths; the address ban lifts at its expiry, a deleted
// user ban lifts too; the Lua module also refuses a banned user at OWA's
// form login, which auth_request checks by address only.
func TestProxyDecisions(t *testing.T) {
	t.Parallel()
	syslogPort := freePort(t)
	v := startVigil(t, vigilOpts{syslogPort: -1, config: fmt.Sprintf(
		"inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\nenforce:\n  allow_private: true\n", syslogPort)})
	vigilAddr := strings.TrimPrefix(v.httpURL, "http://")
	p := startProxy(t,
		templateFile(t, deployFile(t, "nginx/vigil-enforce-http.conf"), "127.0.0.1:8514", vigilAddr, "/var/cache/nginx/vigil", "{{dir}}/cache"),
		templateFile(t, deployFile(t, "nginx/vigil-enforce.conf"), "CHANGE-ME-BOUNCER-KEY", bouncerKey(t, v, "nginx")), nil, nil)
	lua, err := os.ReadFile(deployFile(t, "nginx/lua/vigil.lua"))
	if err != nil {
		t.Fatal(err)
	}
	pl := startProxy(t,
		templateFile(t, deployFile(t, "nginx/vigil-lua.conf"), "/etc/nginx/lua/", "{{dir}}/lua/", "127.0.0.1:8514", vigilAddr,
			"CHANGE-ME-BOUNCER-KEY", bouncerKey(t, v, "nginx-lua"), "interval = 2", "interval = 1"),
		templateFile(t, deployFile(t, "nginx/vigil-lua-server.conf")), luaModules, map[string]string{"lua/vigil.lua": string(lua)})
	both := func(r req, want int) {
		t.Helper()
		p.eventually(t, r, want)
		pl.eventually(t, r, want)
	}

	mallory := req{path: "/ews/exchange.asmx", basic: `CORP\Mallory`}
	lost := req{path: easQuery("alice", "LOST1"), basic: "alice"}
	from3 := req{path: "/owa/", from: "127.0.0.3"}
	form := req{method: "POST", path: "/owa/auth.owa", body: "destination=x&username=mallory%40corp.example&password=p"}
	both(mallory, 200)
	both(lost, 200)
	both(from3, 200)
	pl.expect(t, form, http.StatusFound)

	user := addDecision(t, v, "user", "mallory", "1h")
	addDecision(t, v, "device", "lost1", "1h")
	addDecision(t, v, "ip", "127.0.0.3", "6s")
	both(mallory, 403)
	both(req{path: easQuery("Mallory", "OTHER"), basic: ""}, 403) // ActiveSync's User=
	both(lost, 403)
	both(from3, 403)
	pl.expect(t, form, 403)
	p.expect(t, form, http.StatusFound) // auth_request: the form's user is not seen
	both(req{path: easQuery("alice", "PHONE2"), basic: "alice"}, 200)

	// The address ban expires (6 s); the user ban is deleted.
	both(from3, 200)
	if c, body := v.call(t, "DELETE", fmt.Sprintf("/api/v1/decisions/%d", user), ""); c != http.StatusNoContent {
		t.Fatalf("delete decision %d: %d %s", user, c, body)
	}
	both(mallory, 200)
	pl.expect(t, form, http.StatusFound)
	both(lost, 403)
}
