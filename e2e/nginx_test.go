package e2e

import (
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

// nginxConf is the test server; it includes deploy/nginx/vigil-access-log.conf
// (templated with vigil's port) at http level.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log info;
events { worker_connections 64; }
http {
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    include {{dir}}/vigil-access-log.conf;
    server {
        listen 127.0.0.1:{{port}};
        server_name localhost;
        location = /owa/auth.owa { return 302 /owa/; }
        location /secure/ { return 401; }
        location / { return 200 "ok\n"; }
    }
}
`

// TestNginx runs nginx with the deployment's JSON access log sent over
// syslog and searches its requests by their JSON fields.
func TestNginx(t *testing.T) {
	t.Parallel()
	nginx := requireProgram(t, "nginx")
	v := startVigil(t, vigilOpts{})

	dir := t.TempDir()
	port := freePort(t)
	snippet := templateFile(t, deployFile(t, "nginx/vigil-access-log.conf"),
		"syslog:server=127.0.0.1:5514,", "syslog:server="+v.syslogAddr+",")
	if err := os.WriteFile(filepath.Join(dir, "vigil-access-log.conf"), []byte(snippet), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port)).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := startProc(t, "nginx", filepath.Join(dir, "nginx.out"), nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- nginx error.log ----\n%s", tail(filepath.Join(dir, "error.log"), 8<<10))
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitListening(t, ng, fmt.Sprintf("127.0.0.1:%d", port))

	tok := token("ua")
	ua := "VigilE2E/1.0 (" + tok + "; like curl)"
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", ua)
		req.Header.Set("Referer", "https://mail.example.com/owa/")
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: HTTP %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	do("GET", "/index.html?q="+tok, "", 200)
	do("GET", "/secure/admin", "", 401)
	do("GET", "/secure/admin2", "", 401)
	do("POST", "/owa/auth.owa", "destination=x&username=alice&password=secret", 302)

	// Every request is one event; the user agent word is in a field of
	// all four ("*:" searches every field).
	all := v.waitEvents(t, "*:"+tok, 4)
	if len(all) != 4 {
		t.Fatalf("found %d events for %s, want 4: %v", len(all), tok, all)
	}
	for _, ev := range all {
		checkCommon(t, ev, "syslog")
		checkFormat(t, ev, "RFC3164")
		// The original deployment's keys are mapped onto the normalized
		// schema (and replaced by it); gzip_ration, which means nothing to
		// the schema, stays under its own name.
		checkFields(t, ev, map[string]string{
			"log.syslog.appname":       "nginx",
			"log.syslog.facility.name": "local7",
			"log.syslog.severity.name": "info",
			"event.dataset":            "nginx.access",
			"host.ip":                  "192.168.0.8", // the deployment's "source" key
			"source.ip":                "127.0.0.1",
			"user_agent.original":      ua,
			"http.request.referrer":    "https://mail.example.com/owa/",
		})
		for _, old := range []string{"ip", "statuscode", "request_uri", "http_user_agent"} {
			if _, ok := ev[old]; ok {
				t.Errorf("mapped key %s still stored next to its normalized field", old)
			}
		}
		if ev["http.response.status_code"] == "" || ev["url.path"] == "" {
			t.Errorf("normalized HTTP fields missing: %v", ev)
		}
		// _msg summarises the request; the journal has the JSON text
		// nginx wrote, byte for byte.
		if want := ev["http.request.method"] + " " + ev["url.path"] + " " + ev["http.response.status_code"]; ev["_msg"] != want {
			t.Errorf("_msg = %q, want %q", ev["_msg"], want)
		}
		rec := v.raw(t, ev["vigil.seq"])
		_, js, _ := strings.Cut(rec["data"], "nginx: ")
		var obj map[string]any
		if err := json.Unmarshal([]byte(js), &obj); err != nil {
			t.Errorf("journal data is not nginx's JSON line: %v: %q", err, rec["data"])
			continue
		}
		if sc, ok := obj["statuscode"].(float64); !ok || strconv.Itoa(int(sc)) != ev["http.response.status_code"] {
			t.Errorf("status %q does not match the original %v", ev["http.response.status_code"], obj["statuscode"])
		}
		if n, err := strconv.Atoi(ev["http.response.bytes"]); err != nil || n <= 0 {
			t.Errorf("http.response.bytes = %q, want a positive number", ev["http.response.bytes"])
		}
		if d, err := strconv.ParseInt(ev["event.duration"], 10, 64); ev["event.duration"] != "" && (err != nil || d < 0) {
			t.Errorf("event.duration = %q, want nanoseconds", ev["event.duration"])
		}
		if got, _ := time.Parse(time.RFC3339Nano, ev["_time"]); got.Format("02/Jan/2006:15:04:05 -0700") != obj["time_local"] {
			t.Errorf("_time %q is not nginx's time_local %v", ev["_time"], obj["time_local"])
		}
		if _, bad := ev["vigil.parse_error"]; bad {
			t.Errorf("unexpected vigil.parse_error %q", ev["vigil.parse_error"])
		}
	}

	// Field queries, as an analyst would write them.
	if evs := v.waitEvents(t, "http.response.status_code:401 *:"+tok, 2); len(evs) != 2 {
		t.Errorf("http.response.status_code:401: %d events, want 2", len(evs))
	} else {
		for _, ev := range evs {
			checkFields(t, ev, map[string]string{"event.outcome": "failure", "event.category": "authentication"})
		}
	}
	if evs := v.waitEvents(t, "http.response.status_code:>=400 *:"+tok, 2); len(evs) != 2 {
		t.Errorf("http.response.status_code:>=400: %d events, want 2", len(evs))
	}
	v.waitEvents(t, `source.ip:"127.0.0.1"`, 4)
	owa := v.waitOne(t, `url.path:"/owa/auth.owa" *:`+tok)
	checkFields(t, owa, map[string]string{"http.response.status_code": "302", "network.protocol": "owa", "event.category": "authentication"})
	// A bare word searches _msg, which names the request.
	v.waitOne(t, `"auth.owa" *:`+tok)
	get := v.waitOne(t, `http.response.status_code:200 *:`+tok)
	checkFields(t, get, map[string]string{"url.path": "/index.html", "url.query": "q=" + tok})
	v.waitOne(t, `user_agent.original:"`+ua+`" url.path:"/owa/auth.owa"`)
	if n, err := v.count(`host.ip:"192.168.0.8"`); err != nil || n != 4 {
		t.Errorf(`count host.ip:"192.168.0.8" = %d (%v), want 4`, n, err)
	}
}

// waitListening waits until a TCP address accepts connections.
func waitListening(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() {
			t.Fatalf("%s exited during start: %v", p.name, p.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s within %s: %v", p.name, addr, waitTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
