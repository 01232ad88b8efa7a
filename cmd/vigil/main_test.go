package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseFlags: flags may follow the other arguments; -- ends them.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args      []string
		limit     string
		order     string
		rest      []string
		wantError bool
	}{
		{args: []string{"owa"}, limit: "100", order: "desc", rest: []string{"owa"}},
		{args: []string{"owa", "--limit", "1"}, limit: "1", order: "desc", rest: []string{"owa"}},
		{args: []string{"--order", "asc", "a", "b", "--limit=2", "c"}, limit: "2", order: "asc", rest: []string{"a", "b", "c"}},
		{args: []string{"a", "--", "-b", "--limit", "3"}, limit: "100", order: "desc", rest: []string{"a", "-b", "--limit", "3"}},
		{args: []string{"-", "--limit", "4"}, limit: "4", order: "desc", rest: []string{"-"}},
		{args: []string{"a", "-b"}, wantError: true},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		fs := newFlagSet("x", "x", "x", &stderr)
		limit := fs.Int("limit", 100, "")
		order := fs.String("order", "desc", "")
		err := parseFlags(fs, tt.args, &stderr)
		if tt.wantError {
			if err != errUsage || !strings.Contains(stderr.String(), "goes after --") {
				t.Errorf("%q: err %v, stderr %q; want a usage error with a hint", tt.args, err, stderr.String())
			}
			continue
		}
		if err != nil || fs.Lookup("limit").Value.String() != tt.limit || *order != tt.order || !reflect.DeepEqual(fs.Args(), tt.rest) {
			t.Errorf("%q: err %v, limit %d, order %s, args %q; want %s %s %q", tt.args, err, *limit, *order, fs.Args(), tt.limit, tt.order, tt.rest)
		}
	}
}

// TestHelp: --help, -h and vigil help CMD print the usage to stdout and
// exit 0 for every command.
func TestHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "search", "parse", "rules test", "rules lint", "rules list",
		"journal cat", "config check", "version", "rules", "journal", "config"} {
		args := strings.Fields(cmd)
		for _, form := range [][]string{append(args, "--help"), append(args, "-h"), append([]string{"help"}, args...)} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), form, &stdout, &stderr)
			if code != 0 || stderr.Len() != 0 || !strings.Contains(stdout.String(), "Usage:") || !strings.Contains(stdout.String(), "vigil "+cmd) {
				t.Errorf("vigil %s: exit %d, stderr %q, stdout %q", strings.Join(form, " "), code, stderr.String(), stdout.String())
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"help", "nosuch"}, &stdout, &stderr); code != 2 {
		t.Errorf("vigil help nosuch: exit %d", code)
	}
	if code := run(context.Background(), []string{"rules"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("vigil rules: exit %d, stderr %q", code, stderr.String())
	}
}

// TestConfigProblems: a command given a bad configuration prints each
// problem on its own line and a count with the right number.
func TestConfigProblems(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(file, []byte("log:\n  lvl: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"parse", "testdata/mixed.log", "--config", file}, &stdout, &stderr)
	want := file + ":2: log.lvl: unknown key (did you mean level?)\nvigil parse: 1 problem in the configuration\n"
	if code != 1 || stderr.String() != want {
		t.Errorf("vigil parse --config: exit %d, stderr %q, want %q", code, stderr.String(), want)
	}
	stdout.Reset()
	stderr.Reset()
	code = run(context.Background(), []string{"config", "check", "--config", file}, &stdout, &stderr)
	if code != 1 || stdout.String() != file+":2: log.lvl: unknown key (did you mean level?)\n" || stderr.String() != "vigil config: 1 problem in "+file+"\n" {
		t.Errorf("vigil config check: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 problems", 1: "1 problem", 2: "2 problems"} {
		if got := plural(n, "problem"); got != want {
			t.Errorf("plural(%d) = %q", n, got)
		}
	}
}
