package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheck runs vigil config check on a configuration with one
// problem of each kind, then vigil serve on it: both print every problem
// on its own line, with file, line and key, and serve does not start.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	text := `inputs:
  syslog:
    - adr: 127.0.0.1:5514
store:
  retention: 3 days
detect:
  disable: [web-scanner, brute-forse]
  rules_dir: ` + filepath.Join(dir, "rules") + `
log:
  level: loud
`
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		file + ":3: inputs.syslog[0].adr: unknown key (did you mean addr?)",
		file + `:5: store.retention: "3 days" is not a duration (e.g. 72h, 3d)`,
		file + `:7: detect.disable: unknown rule id "brute-forse" (did you mean brute-force-source?)`,
		file + ":8: detect.rules_dir: directory " + filepath.Join(dir, "rules") + " does not exist",
		file + `:10: log.level: "loud" is not one of debug, info, warn, error`,
	}, "\n") + "\n"

	out, stderr, code := runVigil(t, "config", "check", "--config", file)
	if code != 1 || out != want || stderr != "vigil config: 5 problems in "+file+"\n" {
		t.Errorf("vigil config check: exit %d, stdout\n%s\nstderr %q; want exit 1 and\n%s", code, out, stderr, want)
	}

	data := filepath.Join(dir, "data")
	out, stderr, code = runVigil(t, "serve", "--config", file, "--data", data,
		"--http", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--syslog", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if code != 1 || stderr != want+"vigil serve: 5 problems in the configuration\n" || out != "" {
		t.Errorf("vigil serve: exit %d, stdout %q, stderr\n%s\nwant exit 1 and the same lines", code, out, stderr)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("vigil serve created %s before refusing the configuration", data)
	}

	// The first syslog input's address defaults even when the list is
	// given; the built-in defaults check too.
	if err := os.WriteFile(file, []byte("inputs:\n  syslog: [{timezone: Asia/Shanghai}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runVigil(t, "config", "check", "--config", file); code != 0 || out != "ok: "+file+"\n" {
		t.Errorf("vigil config check on a timezone-only input: exit %d, %q %q", code, out, stderr)
	}
	if out, stderr, code := runVigil(t, "config", "check"); code != 0 || out != "ok: the built-in defaults\n" {
		t.Errorf("vigil config check without --config: exit %d, %q %q", code, out, stderr)
	}
}

// TestHelp: every command and subcommand answers --help, -h and vigil help
// with its usage on stdout and exit status 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "search", "parse", "rules test", "rules lint", "rules list",
		"journal cat", "config check", "version", "rules", "journal", "config"} {
		args := strings.Fields(cmd)
		for _, form := range [][]string{append(args, "--help"), append(args, "-h"), append([]string{"help"}, args...)} {
			out, stderr, code := runVigil(t, form...)
			if code != 0 || stderr != "" || !strings.Contains(out, "Usage:") || !strings.Contains(out, "vigil "+cmd) {
				t.Errorf("vigil %s: exit %d, stderr %q, stdout\n%s", strings.Join(form, " "), code, stderr, out)
			}
		}
	}
	if out, _, code := runVigil(t, "help"); code != 0 || !strings.Contains(out, "vigil config check") {
		t.Errorf("vigil help: exit %d\n%s", code, out)
	}
}

// TestSearchLimit: flags may follow the query, and vigil search says on
// stderr when --limit cut the results, also when the server's
// http.max_search_limit is --limit itself.
func TestSearchLimit(t *testing.T) {
	t.Parallel()
	v := startVigil(t, vigilOpts{config: "http:\n  max_search_limit: 3\n"})
	tok := token("limit")
	var msgs []string
	for i := range 4 {
		msgs = append(msgs, rfc5424(13, "h", "app", fmt.Sprintf("%s %d", tok, i)))
	}
	sendTCP(t, v.syslogAddr, []byte(strings.Join(msgs, "\n")+"\n"))
	if got := v.waitEvents(t, tok, 4); len(got) != 4 {
		t.Fatalf("API found %d events, want 4", len(got))
	}
	for _, tt := range []struct {
		limit  string
		lines  int
		notice string
	}{
		{"1", 1, "vigil search: showing the first 1 result; more match (raise --limit)\n"},
		{"2", 2, "vigil search: showing the first 2 results; more match (raise --limit)\n"},
		{"3", 3, ""}, // the server allows no 4th: no notice, no error
	} {
		out, stderr, code := runVigil(t, "search", tok, "--limit", tt.limit, "--server", v.httpURL, "--data", v.dataDir)
		if n := strings.Count(out, "\n"); code != 0 || n != tt.lines || stderr != tt.notice {
			t.Errorf("vigil search %s --limit %s: exit %d, %d lines, stderr %q; want %d lines, stderr %q",
				tok, tt.limit, code, n, stderr, tt.lines, tt.notice)
		}
	}
	out, stderr, code := runVigil(t, "search", "--server", v.httpURL, tok+" 3", "--data", v.dataDir, "--limit", "5")
	if code != 1 || !strings.Contains(stderr, "limit: must be between 1 and 3") || out != "" {
		t.Errorf("vigil search --limit above the server's: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestRulesLintCount: counts in messages have the right number.
func TestRulesLintCount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("id: x\ntitle: X\ntype: match\nwhen: 'nope('\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runVigil(t, "rules", "lint", "--no-builtin", dir)
	if code != 1 || stderr != "vigil rules: 1 problem in rule files\n" {
		t.Errorf("vigil rules lint: exit %d, stderr %q", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.yaml"), []byte("id: y\ntitle: Y\ntype: match\nmatch: {event.outcome: failure}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := runVigil(t, "rules", "lint", filepath.Join(dir, "good.yaml"), "--no-builtin")
	if code != 0 || out != "ok: 1 rule\n" {
		t.Errorf("vigil rules lint FILE --no-builtin: exit %d, stdout %q", code, out)
	}
}
