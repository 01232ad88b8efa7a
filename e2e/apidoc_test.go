package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docExample is a ```sh block of docs/api.md marked "# test".
type docExample struct {
	line   int
	cmd    string
	status int
}

var testMarkRE = regexp.MustCompile(`^# test(?::\s*status=(\d{3}))?\s*$`)

// apiDocExamples returns the tested examples of a Markdown file.
func apiDocExamples(t *testing.T, path string) []docExample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []docExample
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" || i+1 >= len(lines) {
			continue
		}
		m := testMarkRE.FindStringSubmatch(strings.TrimSpace(lines[i+1]))
		if m == nil {
			continue
		}
		ex := docExample{line: i + 2, status: 200}
		if m[1] != "" {
			ex.status, _ = strconv.Atoi(m[1])
		}
		var cmd []string
		for j := i + 2; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			cmd = append(cmd, lines[j])
			i = j
		}
		ex.cmd = strings.TrimSpace(strings.Join(cmd, "\n"))
		if !strings.HasPrefix(ex.cmd, "curl ") || strings.Count(ex.cmd, "\ncurl ") > 0 {
			t.Errorf("%s:%d: a tested example must be one curl command, got %q", path, ex.line, ex.cmd)
			continue
		}
		out = append(out, ex)
	}
	return out
}

// TestAPIDoc runs the curl examples of docs/api.md marked "# test", in
// order, against one fresh server (the format is described at the top of
// docs/api.md's HTTP API section).
func TestAPIDoc(t *testing.T) {
	requireProgram(t, "curl")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(root, "docs", "api.md")
	examples := apiDocExamples(t, doc)
	if len(examples) < 5 {
		t.Fatalf("%s has %d tested examples; the marker is '# test' on the first line of a ```sh block", doc, len(examples))
	}
	v := startVigil(t, vigilOpts{})
	for _, ex := range examples {
		body := filepath.Join(t.TempDir(), "body")
		cmd := exec.Command("sh", "-c", ex.cmd+` -o "$BODY" -w '%{http_code}'`)
		cmd.Env = append(os.Environ(), "VIGIL="+v.httpURL, "TOKEN="+v.token, "BODY="+body)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Errorf("docs/api.md:%d: %v (%s)\n%s", ex.line, err, errb.String(), ex.cmd)
			continue
		}
		got, _ := os.ReadFile(body)
		if code, _ := strconv.Atoi(out.String()); code != ex.status {
			t.Errorf("docs/api.md:%d: HTTP %s, want %d; body %s\n%s", ex.line, out.String(), ex.status, got, ex.cmd)
			continue
		}
		if ex.status == 204 {
			continue
		}
		for _, line := range bytes.Split(bytes.TrimSpace(got), []byte("\n")) {
			if len(line) > 0 && !json.Valid(line) {
				if !json.Valid(got) {
					t.Errorf("docs/api.md:%d: the answer is not JSON: %s", ex.line, got)
				}
				break
			}
		}
	}
}
