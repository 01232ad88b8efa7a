package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersCLI: vigil users works on the state file while no server runs,
// says to use --server while one does, and works through the API with
// --server.
func TestUsersCLI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("first-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := func(args ...string) (string, string, int) {
		t.Helper()
		return runVigil(t, append([]string{"users"}, args...)...)
	}
	// Before the first start: the first user is made from the shell, so
	// vigil creates no admin of its own.
	if out, stderr, code := users("add", "--data", data, "--role", "admin", "--password-file", pwFile, "ops"); code != 0 {
		t.Fatalf("users add: %d %s %s", code, out, stderr)
	}
	// The password is never taken from the arguments.
	if _, _, code := users("add", "--data", data, "--password", "x", "eve"); code != 2 {
		t.Errorf("users add --password: exit %d, want 2", code)
	}
	v := startVigil(t, vigilOpts{dataDir: data})
	if strings.Contains(tail(v.logPath, 1<<20), "created the console user admin") {
		t.Error("vigil created admin although a user existed")
	}
	// While it runs the file is locked: the error says what to do.
	if _, stderr, code := users("list", "--data", data); code == 0 || !strings.Contains(stderr, "--server") {
		t.Errorf("users list on a running server's data: exit %d, %q", code, stderr)
	}
	cmd := []string{"--server", v.httpURL, "--data", data}
	if out, stderr, code := users(append([]string{"add", "--role", "analyst", "--password-file", pwFile, "zhangwei"}, cmd...)...); code != 0 {
		t.Fatalf("users add --server: %d %s %s", code, out, stderr)
	}
	out, _, code := users(append([]string{"list"}, cmd...)...)
	if code != 0 || !strings.Contains(out, "zhangwei  analyst") || !strings.Contains(out, "ops       admin") {
		t.Errorf("users list --server: %d\n%s", code, out)
	}
	if _, stderr, code := users(append([]string{"delete", "ops"}, cmd...)...); code == 0 || !strings.Contains(stderr, "last administrator") {
		t.Errorf("deleting the last admin: exit %d %q", code, stderr)
	}
	if _, stderr, code := users(append([]string{"passwd", "--password-file", filepath.Join(t.TempDir(), "none"), "zhangwei"}, cmd...)...); code == 0 || !strings.Contains(stderr, "password file") {
		t.Errorf("passwd without the file: exit %d %q", code, stderr)
	}
	v.stop(t)
	// Stopped: directly on the file again; stdin carries the password.
	runStdin := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runVigilStdin(t, stdin, append([]string{"users"}, args...)...)
	}
	if out, stderr, code := runStdin("second-password\n", "passwd", "--data", data, "zhangwei"); code != 0 {
		t.Errorf("passwd from stdin: %d %s %s", code, out, stderr)
	}
	if out, stderr, code := users("delete", "--data", data, "zhangwei"); code != 0 {
		t.Errorf("delete: %d %s %s", code, out, stderr)
	}
	out, _, _ = users("list", "--data", data)
	if strings.Contains(out, "zhangwei") {
		t.Errorf("after delete:\n%s", out)
	}
}

// runVigilStdin is runVigil with stdin as the command's standard input.
func runVigilStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("run vigil %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestConsoleUnauthenticated: on the real binary, nothing but /healthz,
// /metrics, the login page and /static answers without a login.
func TestConsoleUnauthenticated(t *testing.T) {
	v := startVigil(t, vigilOpts{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		method, path string
		code         int
		location     string
	}{
		{"GET", "/healthz", 200, ""},
		{"GET", "/metrics", 200, ""},
		{"GET", "/login", 200, ""},
		{"GET", "/static/app.css", 200, ""},
		{"GET", "/", 303, "/login?next=%2F"},
		{"GET", "/search?q=owa", 303, "/login?next=%2Fsearch%3Fq%3Dowa"},
		{"GET", "/admin/users", 303, "/login?next=%2Fadmin%2Fusers"},
		{"GET", "/anything/else", 303, "/login?next=%2Fanything%2Felse"},
		{"POST", "/admin/users", 303, "/login?next=%2F"},
		{"GET", "/api/v1/users", 401, ""},
		{"GET", "/api/v1/session", 401, ""},
		{"POST", "/api/v1/users", 401, ""},
		{"GET", "/api/v1/no-such-thing", 401, ""},
	} {
		req, _ := http.NewRequest(c.method, v.httpURL+c.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Location") != c.location {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Location"), c.code, c.location)
		}
	}
}
