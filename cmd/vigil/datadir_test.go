//go:build unix

package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-soc/vigil/internal/config"
)

// TestWarnLoosePerms: one warning per data path that the group or others
// may access, naming it and the chmod that fixes it; none for private or
// missing paths.
func TestWarnLoosePerms(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(cfg.DataDir, 0o700))
	for _, d := range []struct { // in order: a parent before its child
		dir  string
		mode os.FileMode
	}{{"journal", 0o755}, {"journal/cursors", 0o700}, {"store", 0o750}} {
		p := filepath.Join(cfg.DataDir, d.dir)
		must(os.Mkdir(p, 0o700))
		must(os.Chmod(p, d.mode))
	}
	must(os.WriteFile(filepath.Join(cfg.DataDir, tokenFileName), []byte("t\n"), 0o600))
	must(os.Chmod(filepath.Join(cfg.DataDir, tokenFileName), 0o640))

	var buf bytes.Buffer
	warnLoosePerms(slog.New(slog.NewTextHandler(&buf, nil)), privatePaths(cfg))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"path=" + filepath.Join(cfg.DataDir, "journal") + " mode=0755 fix=\"chmod 700 " + filepath.Join(cfg.DataDir, "journal") + "\"",
		"path=" + filepath.Join(cfg.DataDir, "store") + " mode=0750 fix=\"chmod 700 " + filepath.Join(cfg.DataDir, "store") + "\"",
		"path=" + filepath.Join(cfg.DataDir, tokenFileName) + " mode=0640 fix=\"chmod 600 " + filepath.Join(cfg.DataDir, tokenFileName) + "\"",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d warnings, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], "level=WARN") || !strings.HasSuffix(lines[i], w) {
			t.Errorf("warning %d: %s\nwant it to end in %s", i, lines[i], w)
		}
	}

	// Configured tokens: no token file to check.
	cfg.HTTP.Tokens = []string{"0123456789abcdef"}
	if p := privatePaths(cfg); p[len(p)-1] == filepath.Join(cfg.DataDir, tokenFileName) {
		t.Errorf("token file checked although tokens are configured: %v", p)
	}
}

// TestTokenFilePrivate: the generated token file is 0600 whatever the
// umask, in the 0700 data directory.
func TestTokenFilePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	s := &server{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	toks, err := s.tokens()
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %v", toks, err)
	}
	fi, err := os.Stat(tokenPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %#o, want 0600", fi.Mode().Perm())
	}
}
