package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestNginxExampleSearches: the searches in the comments of
// deploy/nginx/vigil-access-log.conf name fields that Vigil makes of a
// line in that file's log_format.
func TestNginxExampleSearches(t *testing.T) {
	b, err := os.ReadFile("../../deploy/nginx/vigil-access-log.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	m := regexp.MustCompile(`(?m)^log_format accessjson escape=json '(.*)';$`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatal("no log_format accessjson line")
	}
	line := strings.NewReplacer(
		"$remote_addr", "203.0.113.7", "$remote_user", "zhangwei", "$time_local", "28/Nov/2026:10:00:00 +0000",
		"$status", "401", "$bytes_sent", "512", "$http_referer", "-", "$http_user_agent", "curl/8.0",
		"$request_method", "POST", "$request_uri", "/owa/auth.owa", "$sent_http_location", "https://mail.example.com/owa/auth/logon.aspx?reason=2", "$request_time", "1.500", "$gzip_ratio", "-", "$query_string", "",
	).Replace(m[1])
	if strings.Contains(line, "$") {
		t.Fatalf("a variable of the log_format has no sample value: %s", line)
	}
	log := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(log, []byte("<190>Nov 28 10:00:00 proxy1 nginx: "+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"parse", log}, &out, &errOut); code != 0 {
		t.Fatalf("vigil parse: exit %d: %s", code, errOut.String())
	}
	var ev map[string]string
	if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	searches := regexp.MustCompile(`(?m)^#\s+vigil search '([^']*)'`).FindAllStringSubmatch(conf, -1)
	if len(searches) == 0 {
		t.Fatal("no example searches in the comments")
	}
	field := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_.]*):|by \(([^)]*)\)`)
	for _, s := range searches {
		for _, f := range field.FindAllStringSubmatch(s[1], -1) {
			name := f[1] + f[2]
			if _, ok := ev[name]; !ok {
				t.Errorf("the example search %q uses %s, which the event lacks (it has %s)", s[1], name, strings.Join(slices.Sorted(maps.Keys(ev)), " "))
			}
		}
	}
}

// TestDocsNoStalePromises: the documentation no longer announces as
// future what the binary does (outputs, the Kafka input).
func TestDocsNoStalePromises(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	stale := regexp.MustCompile(`(?i)in later releases|outputs later|later, every output|come with later inputs|\(later\) a detection`)
	for _, f := range append(files, "../../README.md", "main.go") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := stale.FindString(line); m != "" {
				t.Errorf("%s:%d: %q: that exists now", f, i+1, m)
			}
		}
	}
}
