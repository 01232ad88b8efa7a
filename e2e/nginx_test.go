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
		checkFields(t, ev, map[string]string{
			"log.syslog.appname":       "nginx",
			"log.syslog.facility.name": "local7",
			"log.syslog.severity.name": "info",
			"source":                   "192.168.0.8",
			"ip":                       "127.0.0.1",
			"http_user_agent":          ua,
			"http_referer":             "https://mail.example.com/owa/",
			// normalized
			"event.dataset":       "nginx.access",
			"source.ip":           "127.0.0.1",
			"user_agent.original": ua,
		})
		if ev["http.response.status_code"] != ev["statuscode"] || ev["url.path"] == "" {
			t.Errorf("normalized HTTP fields missing: %v", ev)
		}
		// _msg summarises the request; the journal has the JSON text
		// nginx wrote, byte for byte.
		if want := ev["request_uri"] + " " + ev["statuscode"]; ev["_msg"] != want {
			t.Errorf("_msg = %q, want %q", ev["_msg"], want)
		}
		rec := v.raw(t, ev["vigil.seq"])
		_, js, _ := strings.Cut(rec["data"], "nginx: ")
		var obj map[string]any
		if err := json.Unmarshal([]byte(js), &obj); err != nil {
			t.Errorf("journal data is not nginx's JSON line: %v: %q", err, rec["data"])
			continue
		}
		if sc, ok := obj["statuscode"].(float64); !ok || strconv.Itoa(int(sc)) != ev["statuscode"] {
			t.Errorf("statuscode field %q does not match the original %v", ev["statuscode"], obj["statuscode"])
		}
		if n, err := strconv.Atoi(ev["bytes_sent"]); err != nil || n <= 0 {
			t.Errorf("bytes_sent = %q, want a positive number", ev["bytes_sent"])
		}
		if f, err := strconv.ParseFloat(ev["request_time"], 64); err != nil || f < 0 {
			t.Errorf("request_time = %q, want a number", ev["request_time"])
		}
		if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", ev["time_local"]); err != nil {
			t.Errorf("time_local = %q: %v", ev["time_local"], err)
		}
		if _, bad := ev["vigil.parse_error"]; bad {
			t.Errorf("unexpected vigil.parse_error %q", ev["vigil.parse_error"])
		}
	}

	// Field queries, as an analyst would write them.
	if evs := v.waitEvents(t, "statuscode:401 *:"+tok, 2); len(evs) != 2 {
		t.Errorf("statuscode:401: %d events, want 2", len(evs))
	}
	if evs := v.waitEvents(t, "statuscode:>=400 *:"+tok, 2); len(evs) != 2 {
		t.Errorf("statuscode:>=400: %d events, want 2", len(evs))
	}
	v.waitEvents(t, `ip:"127.0.0.1"`, 4)
	owa := v.waitOne(t, `request_uri:"/owa/auth.owa" *:`+tok)
	checkFields(t, owa, map[string]string{"statuscode": "302", "network.protocol": "owa", "event.category": "authentication"})
	for _, ev := range v.waitEvents(t, "http.response.status_code:401 *:"+tok, 2) {
		checkFields(t, ev, map[string]string{"event.outcome": "failure", "event.category": "authentication"})
	}
	// A bare word searches _msg, which names the request.
	v.waitOne(t, `"auth.owa" *:`+tok)
	get := v.waitOne(t, `statuscode:200 *:`+tok)
	checkFields(t, get, map[string]string{"request_uri": "/index.html?q=" + tok, "query_string": "q=" + tok})
	v.waitOne(t, `http_user_agent:"`+ua+`" request_uri:"/owa/auth.owa"`)
	if n, err := v.count(`source:"192.168.0.8"`); err != nil || n != 4 {
		t.Errorf(`count source:"192.168.0.8" = %d (%v), want 4`, n, err)
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
