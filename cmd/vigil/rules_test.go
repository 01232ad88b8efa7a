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

func TestRulesLint(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("id: mine\ntitle: Mine\ntype: match\nmatch: {event.outcome: failure}\n"), 0o644)
	os.WriteFile(bad, []byte("id: broken\ntitle: B\ntype: match\nwhen: 'http.response.status_code == \"401\"'\n"), 0o644)

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules", "lint"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "ok: ") {
		t.Fatalf("built-in pack: exit %d, %s %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"rules", "lint", "--no-builtin", good}, &out, &errOut); code != 0 || out.String() != "ok: 1 rule\n" {
		t.Fatalf("good file: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"rules", "lint", "--no-builtin", dir}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "bad.yaml: rule broken") || !strings.Contains(out.String(), "mismatched types") {
		t.Fatalf("bad file: exit %d, %q", code, out.String())
	}
	if errOut.String() != "vigil rules: 1 problem in rule files\n" {
		t.Errorf("bad file: stderr %q", errOut.String())
	}
}

func TestRulesTest(t *testing.T) {
	dir := t.TempDir()
	rule := filepath.Join(dir, "r.yaml")
	os.WriteFile(rule, []byte("id: three\ntitle: Three failures\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1m\nthreshold: 3\nmessage: 'first at {{local .First}}'\n"), 0o644)
	// Two files from two sources, interleaved in event time only when sorted.
	imap := func(ts, ip string) string {
		return "<134>Nov 28 10:00:00 exch01 IMAP4: 2026-11-28T" + ts + ".000Z,0000000000ABC123,3,10.0.0.5:993," + ip + ":51234,zhangwei,12,40,30,login,,\"R=\"\"NO LOGIN failed.\"\"\"\n"
	}
	a := filepath.Join(dir, "a.log")
	b := filepath.Join(dir, "b.log")
	os.WriteFile(a, []byte(imap("10:00:00", "203.0.113.5")+imap("10:00:40", "203.0.113.5")), 0o644)
	os.WriteFile(b, []byte(imap("10:00:20", "203.0.113.5")+imap("10:05:00", "203.0.113.6")), 0o644)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules", "test", "--no-builtin", "--timezone", "UTC", "--rules", rule, a, b}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d alerts: %s", len(lines), out.String())
	}
	var al map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &al); err != nil {
		t.Fatal(err)
	}
	// The names of a stored alert (one schema everywhere).
	if al["source.ip"] != "203.0.113.5" || al["alert.count"] != float64(3) || al["alert.first"] != "2026-11-28T10:00:00Z" ||
		al["_time"] != "2026-11-28T10:00:40Z" || al["rule.id"] != "three" || al["_msg"] != "first at 2026-11-28 10:00:00 +00:00" {
		t.Errorf("alert %v", al)
	}
	if p, _ := al["alert.payloads"].([]any); len(p) != 3 {
		t.Errorf("payloads %v", al["alert.payloads"])
	}
	if !strings.Contains(errOut.String(), "4 events, 1 rule, 1 alert") {
		t.Errorf("summary %q", errOut.String())
	}

	// In Shanghai's zone: the times and the message's with +08:00.
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"rules", "test", "--no-builtin", "--timezone", "Asia/Shanghai", "--rules", rule, a, b}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	al = nil
	if err := json.Unmarshal(out.Bytes(), &al); err != nil {
		t.Fatal(err)
	}
	if al["alert.first"] != "2026-11-28T18:00:00+08:00" || al["alert.last"] != "2026-11-28T18:00:40+08:00" ||
		al["_time"] != "2026-11-28T18:00:40+08:00" || al["_msg"] != "first at 2026-11-28 18:00:00 +08:00" {
		t.Errorf("alert in Asia/Shanghai %v", al)
	}
}

// TestRulesTestFileLines: rules test reads a log file's lines without
// <PRI> as vigil parse does, so a rule on the header fields sees them.
func TestRulesTestFileLines(t *testing.T) {
	dir := t.TempDir()
	rule := filepath.Join(dir, "r.yaml")
	os.WriteFile(rule, []byte("id: sshd\ntitle: sshd\ntype: match\nmatch: {log.syslog.appname: sshd, host.hostname: mx1, vigil.priority_assumed: \"true\"}\n"), 0o644)
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte("Nov 28 10:00:00 mx1 sshd[31337]: Failed password for root from 198.51.100.23 port 52144 ssh2\n"+
		"Nov 28 10:00:01 mx1 CRON[77]: (root) CMD (true)\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules", "test", "--no-builtin", "--rules", rule, log}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), `"rule.id":"sshd"`) {
		t.Errorf("got %d alerts: %s", n, out.String())
	}
}

// TestRulesLanguage: rules test and rules list write the rules' texts in
// display.language, or in the language --language names.
func TestRulesLanguage(t *testing.T) {
	dir := t.TempDir()
	rule := filepath.Join(dir, "r.yaml")
	os.WriteFile(rule, []byte(`id: fail
title: A failure
type: match
match: {event.outcome: failure}
message: 'failed login from {{.Field "source.ip"}}'
translations:
  zh-CN:
    title: 登录失败
    message: '来自 {{.Field "source.ip"}} 的登录失败'
`), 0o644)
	zhConfig := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(zhConfig, []byte("display:\n  language: zh-CN\n"), 0o644)
	log := filepath.Join(dir, "a.log")
	os.WriteFile(log, []byte("<134>Nov 28 10:00:00 exch01 IMAP4: 2026-11-28T10:00:00.000Z,0000000000ABC123,3,10.0.0.5:993,203.0.113.5:51234,zhangwei,12,40,30,login,,\"R=\"\"NO LOGIN failed.\"\"\"\n"), 0o644)
	for _, tc := range []struct {
		args         []string
		title, msg   string
		listContains string
	}{
		{nil, "A failure", "failed login from 203.0.113.5", "A failure"},
		{[]string{"--config", zhConfig}, "登录失败", "来自 203.0.113.5 的登录失败", "登录失败"},
		{[]string{"--language", "zh"}, "登录失败", "来自 203.0.113.5 的登录失败", "登录失败"},
		{[]string{"--config", zhConfig, "--language", "en"}, "A failure", "failed login from 203.0.113.5", "A failure"},
	} {
		var out, errOut bytes.Buffer
		args := append(append([]string{"rules", "test", "--no-builtin", "--rules", rule}, tc.args...), log)
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut.String())
		}
		var al map[string]any
		if err := json.Unmarshal(out.Bytes(), &al); err != nil {
			t.Fatalf("%v: %v: %s", tc.args, err, out.String())
		}
		if al["rule.name"] != tc.title || al["_msg"] != tc.msg {
			t.Errorf("%v: alert %v %v, want %q %q", tc.args, al["rule.name"], al["_msg"], tc.title, tc.msg)
		}
		out.Reset()
		args = append([]string{"rules", "list", "--no-builtin", "--rules", rule}, tc.args...)
		if code := run(context.Background(), args, &out, &errOut); code != 0 || !strings.Contains(out.String(), tc.listContains) {
			t.Errorf("%v: rules list: exit %d, %q", tc.args, code, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules", "list", "--language", "fr"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), `--language "fr": want en or zh-CN`) {
		t.Errorf("--language fr: exit %d, %q", code, errOut.String())
	}
}
