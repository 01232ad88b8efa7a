package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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
	env := apiDocServer(t)
	for _, ex := range examples {
		body := filepath.Join(t.TempDir(), "body")
		cmd := exec.Command("sh", "-c", ex.cmd+` -o "$BODY" -w '%{http_code}'`)
		cmd.Env = append(append(os.Environ(), env...), "BODY="+body)
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

// apiDocServer starts the server the examples run against: the example
// lists of deploy/lists, and a compromised account's logins (a burst of
// failed IMAP logins, then a success, then a lockout) that raise alerts.
// It returns the examples' environment: $VIGIL, $TOKEN, $ALERT (the
// login-after-failures alert's id, which is also its incident's) and
// $EVENT (the id of one of the events).
func apiDocServer(t *testing.T) []string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	lists := filepath.Join(t.TempDir(), "lists")
	if err := os.CopyFS(lists, os.DirFS(filepath.Join(root, "deploy", "lists"))); err != nil {
		t.Fatal(err)
	}
	syslogPort := freePort(t)
	v := startVigil(t, vigilOpts{syslogPort: -1, config: fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  lists_dir: %s
`, syslogPort, lists)})
	v.syslogAddr = fmt.Sprintf("127.0.0.1:%d", syslogPort)
	now := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	var lines []string
	for i := range 25 {
		lines = append(lines, imapLine(at(i), "203.0.113.66", "zhangwei", false))
	}
	lines = append(lines, imapLine(at(30), "203.0.113.66", "zhangwei", true), lockoutLine(at(40), "zhangwei"))
	sendLines(t, v.syslogAddr, lines)
	alert := v.waitAlert(t, `rule.id:="login-after-failures"`)
	ev := v.waitOne(t, `event.category:=authentication event.outcome:=success user.name:=zhangwei`)
	// The event's id as the search endpoints give it.
	code, body, err := v.get("/api/v1/search/hits?q=event.category:%3Dauthentication%20event.outcome:%3Dsuccess%20user.name:%3Dzhangwei&start=1h&size=1", true)
	var hits struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if err != nil || code != 200 || json.Unmarshal(body, &hits) != nil || len(hits.Events) != 1 || hits.Events[0].ID == "" {
		t.Fatalf("the event's id: %d %v %s (event %v)", code, err, body, ev)
	}
	// Wait until the alerts API lists the alert (the store writer).
	deadline := time.Now().Add(waitTimeout)
	for {
		code, body, _ := v.get("/api/v1/alerts/"+alert["alert.id"], true)
		if code == 200 || time.Now().After(deadline) {
			if code != 200 {
				t.Fatalf("GET /api/v1/alerts/%s: %d %s", alert["alert.id"], code, body)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return []string{"VIGIL=" + v.httpURL, "TOKEN=" + v.token, "ALERT=" + alert["alert.id"], "EVENT=" + hits.Events[0].ID}
}
