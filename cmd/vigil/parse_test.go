package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runParse(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"parse"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("vigil parse %v: exit %d: %s", args, code, stderr.String())
	}
	var evs []map[string]string
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		var ev map[string]string
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("output line %q is not a JSON object of strings: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestParseCommand: one event per input line, in order, none skipped,
// problems marked.
func TestParseCommand(t *testing.T) {
	evs := runParse(t, "testdata/mixed.log")
	want := []struct{ msg, parseError string }{
		{"/owa/ 401", ""},
		{"plain line", ""},
		{"", ""}, // an empty line is still a record
		{`{"a":`, "invalid JSON"},
		{"\uFFFD binary", "invalid UTF-8"}, // a run of invalid bytes shows as one U+FFFD
		{"last line without newline", ""},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %v", len(evs), len(want), evs)
	}
	for i, w := range want {
		ev := evs[i]
		if ev["_msg"] != w.msg || !strings.Contains(ev["vigil.parse_error"], w.parseError) || (w.parseError == "" && ev["vigil.parse_error"] != "") {
			t.Errorf("line %d: _msg %q parse_error %q; want %q and an error mentioning %q", i+1, ev["_msg"], ev["vigil.parse_error"], w.msg, w.parseError)
		}
		if ev["vigil.seq"] != []string{"1", "2", "3", "4", "5", "6"}[i] {
			t.Errorf("line %d: vigil.seq %q", i+1, ev["vigil.seq"])
		}
	}
	if evs[0]["http.response.status_code"] != "401" || evs[0]["source.ip"] != "1.2.3.4" || evs[0]["vigil.input"] != "testdata/mixed.log" {
		t.Errorf("first event %v", evs[0])
	}
}

func TestParseCommandErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"parse", "--format", "nosuch", "testdata/mixed.log"}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "unknown format") {
		t.Errorf("unknown format: exit %d, stderr %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"parse", filepath.Join(t.TempDir(), "missing.log")}, &stdout, &stderr); code == 0 {
		t.Error("missing file: exit 0")
	}
}

func TestParseCommandLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.log")
	long := strings.Repeat("x", 3<<20)
	if err := os.WriteFile(path, []byte(long+"\nnext\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	evs := runParse(t, path)
	if len(evs) != 2 || len(evs[0]["_msg"]) != len(long) || evs[1]["_msg"] != "next" {
		t.Fatalf("long line not kept whole: %d events", len(evs))
	}
}

// TestParseCommandCharset: --charset decodes the lines (testdata/gbk.log
// is GBK, its last line has an invalid byte); the configuration's first
// input's charset is the default.
func TestParseCommandCharset(t *testing.T) {
	check := func(evs []map[string]string) {
		t.Helper()
		want := []string{"用户 张三 登录失败", "帐户已锁定 李四", "bad \uFFFD byte"}
		if len(evs) != len(want) {
			t.Fatalf("%d events, want %d", len(evs), len(want))
		}
		for i, w := range want {
			if evs[i]["_msg"] != w {
				t.Errorf("line %d: _msg %q, want %q", i+1, evs[i]["_msg"], w)
			}
		}
		if !strings.Contains(evs[2]["vigil.parse_error"], "invalid GBK at byte 38") || evs[2]["vigil.raw_base64"] == "" {
			t.Errorf("invalid byte: parse error %q, raw_base64 %q", evs[2]["vigil.parse_error"], evs[2]["vigil.raw_base64"])
		}
	}
	check(runParse(t, "--charset", "gbk", "testdata/gbk.log"))
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("inputs:\n  syslog:\n    - charset: gbk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check(runParse(t, "--config", cfg, "testdata/gbk.log"))
	if evs := runParse(t, "testdata/gbk.log"); !strings.Contains(evs[0]["vigil.parse_error"], "invalid UTF-8") {
		t.Errorf("without a charset: %v", evs[0])
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"parse", "--charset", "latin1", "testdata/gbk.log"}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), `--charset: unknown charset "latin1"`) {
		t.Errorf("unknown charset: exit %d, stderr %q", code, stderr.String())
	}
}

// TestParseCommandFileLines: lines of a log file, which have no <PRI>, are
// read as BSD syslog with rsyslog's default priority, marked as assumed.
func TestParseCommandFileLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	lines := "Nov 27 23:39:14 mx1 sshd[31337]: Failed password for root from 198.51.100.23 port 52144 ssh2\n" +
		"2026-11-28T07:39:14.123456+08:00 mx1 sshd[31338]: Accepted publickey for alice from 192.0.2.7 port 50022 ssh2\n" +
		"<86>Nov 27 23:39:15 mx1 sshd[31339]: Connection closed by 198.51.100.23 port 52144\n" +
		"a line without a date\n"
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	evs := runParse(t, "--timezone", "UTC", path)
	if len(evs) != 4 {
		t.Fatalf("got %d events, want 4", len(evs))
	}
	want := []map[string]string{
		{"log.syslog.format": "rfc3164", "log.syslog.priority": "13", "log.syslog.facility.name": "user", "log.syslog.severity.name": "notice",
			"vigil.priority_assumed": "true", "host.hostname": "mx1", "log.syslog.appname": "sshd", "log.syslog.procid": "31337",
			"_msg": "Failed password for root from 198.51.100.23 port 52144 ssh2"},
		{"log.syslog.priority": "13", "vigil.priority_assumed": "true", "host.hostname": "mx1", "log.syslog.procid": "31338",
			"_time": "2026-11-27T23:39:14.123456Z", "_msg": "Accepted publickey for alice from 192.0.2.7 port 50022 ssh2"},
		{"log.syslog.priority": "86", "vigil.priority_assumed": "", "log.syslog.procid": "31339"},
		{"log.syslog.format": "unknown", "log.syslog.priority": "", "vigil.priority_assumed": "", "_msg": "a line without a date"},
	}
	for i, w := range want {
		for k, v := range w {
			if evs[i][k] != v {
				t.Errorf("line %d: %s = %q, want %q", i+1, k, evs[i][k], v)
			}
		}
		if e := evs[i]["vigil.parse_error"]; e != "" {
			t.Errorf("line %d: vigil.parse_error %q", i+1, e)
		}
	}
}
