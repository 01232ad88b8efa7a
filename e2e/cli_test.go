package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLI checks vigil search against the HTTP API, vigil version, the
// API's errors, and vigil journal cat on the stopped server's data.
func TestCLI(t *testing.T) {
	t.Parallel()
	out, stderr, code := runVigil(t, "version")
	if code != 0 || !regexp.MustCompile(`^vigil \S+`).MatchString(out) {
		t.Errorf("vigil version: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	v := startVigil(t, vigilOpts{})
	tok := token("cli")
	msgs := []string{
		rfc5424(13, "clihost", "cliapp", "first "+tok),
		rfc5424(13, "clihost", "cliapp", `{"user":"alice","statuscode":401,"msg":"second `+tok+`"}`),
	}
	sendTCP(t, v.syslogAddr, []byte(msgs[0]+"\n"+msgs[1]+"\n"))
	api := v.waitEvents(t, tok, 2)
	if len(api) != 2 {
		t.Fatalf("API found %d events, want 2", len(api))
	}
	// A JSON payload's msg key is its _msg.
	if api[0]["_msg"] != "second "+tok || api[0]["user"] != "alice" {
		t.Errorf("newest first: first result %v is not the JSON (second) message", api[0])
	}

	// vigil search prints what the API returns.
	out, stderr, code = runVigil(t, "search", "--server", v.httpURL, "--data", v.dataDir, tok)
	if code != 0 {
		t.Fatalf("vigil search: exit %d: %s", code, stderr)
	}
	cli, err := parseEvents([]byte(out))
	if err != nil {
		t.Fatalf("vigil search output: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(cli, api) {
		t.Errorf("vigil search printed\n%v\nthe API returned\n%v", cli, api)
	}
	out, stderr, code = runVigil(t, "search", "--server", v.httpURL, "--token", v.token, "--limit", "1", "--order", "asc", "statuscode:401 user:alice")
	if code != 0 {
		t.Fatalf("vigil search --token: exit %d: %s", code, stderr)
	}
	if cli, err = parseEvents([]byte(out)); err != nil || len(cli) != 1 || cli[0]["msg"] != "second "+tok {
		t.Errorf("vigil search statuscode:401 user:alice: %v %v", cli, err)
	}

	// A bad query fails with the parser's message, from the CLI and the API.
	const badQuery = "foo | no_such_pipe"
	out, stderr, code = runVigil(t, "search", "--server", v.httpURL, "--data", v.dataDir, badQuery)
	if code == 0 || !strings.Contains(stderr, "bad query") || !strings.Contains(stderr, "no_such_pipe") {
		t.Errorf("vigil search %q: exit %d, stdout %q, stderr %q; want a non-zero exit naming the bad pipe", badQuery, code, out, stderr)
	}
	status, body, err := v.get("/api/v1/search?q=foo+%7C+no_such_pipe", true)
	var e struct{ Error string }
	if err != nil || status != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || !strings.HasPrefix(e.Error, "bad query: ") {
		t.Errorf("API bad query: HTTP %d, %v, body %q; want 400 {\"error\":\"bad query: ...\"}", status, err, body)
	}

	// The API needs the token; /healthz and /metrics do not.
	for path, want := range map[string]int{
		"/api/v1/search?q=*": http.StatusUnauthorized,
		"/api/v1/status":     http.StatusUnauthorized,
		"/healthz":           http.StatusOK,
		"/metrics":           http.StatusOK,
	} {
		if status, _, err := v.get(path, false); err != nil || status != want {
			t.Errorf("GET %s without a token: HTTP %d (%v), want %d", path, status, err, want)
		}
	}
	out, stderr, code = runVigil(t, "search", "--server", v.httpURL, "--token", "wrong-token-0123456789", tok)
	if code == 0 {
		t.Errorf("vigil search with a wrong token: exit 0, stdout %q", out)
	}
	// /metrics carries the documented series.
	m := v.metrics(t)
	for _, name := range []string{"vigil_input_messages_total", "vigil_input_truncated_total", "vigil_input_framing_errors_total",
		"vigil_journal_appended_records_total", "vigil_index_records_total", "vigil_index_parse_errors_total", "vigil_store_rows"} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// The default memory_target is the runtime's soft limit (the live heap
	// of this small run is far under it).
	if got := m["vigil_memory_target_bytes"]; got != 384<<20 {
		t.Errorf("vigil_memory_target_bytes = %v, want 384 MiB (the default memory_target)", got)
	}
	if lim, rt := m["vigil_memory_soft_limit_bytes"], m["go_gc_gomemlimit_bytes"]; lim != 384<<20 || rt != lim {
		t.Errorf("vigil_memory_soft_limit_bytes = %v, go_gc_gomemlimit_bytes = %v, want both 384 MiB", lim, rt)
	}
	if got := m[`vigil_input_messages_total{input="syslog",transport="tcp"}`]; got != 2 {
		t.Errorf(`vigil_input_messages_total{input="syslog",transport="tcp"} = %v, want 2`, got)
	}
	v.waitMetric(t, "vigil_store_rows", 2)
	st := v.status(t)
	for _, k := range []string{"version", "journal", "index", "store", "inputs"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/api/v1/status lacks %q: %v", k, st)
		}
	}

	// vigil journal cat reads the raw archive once the server is stopped.
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	out, stderr, code = runVigil(t, "journal", "cat", "--data", v.dataDir)
	if code != 0 {
		t.Fatalf("vigil journal cat: exit %d: %s", code, stderr)
	}
	if want := msgs[0] + "\n" + msgs[1] + "\n"; out != want {
		t.Errorf("vigil journal cat printed %q, want %q", out, want)
	}
	out, stderr, code = runVigil(t, "journal", "cat", "--data", v.dataDir, "--json", "--from", api[0]["vigil.seq"])
	if code != 0 {
		t.Fatalf("vigil journal cat --json: exit %d: %s", code, stderr)
	}
	recs, err := parseEvents([]byte(out))
	if err != nil || len(recs) != 1 {
		t.Fatalf("vigil journal cat --json --from %s: %v, %v", api[0]["vigil.seq"], recs, err)
	}
	checkFields(t, recs[0], map[string]string{
		"seq": api[0]["vigil.seq"], "input": "syslog", "peer": api[0]["log.source.address"],
		"truncated": "false", "data": msgs[1],
	})
	// The journal keeps the receive time to the nanosecond; the event, to
	// the millisecond.
	exact, err1 := time.Parse(time.RFC3339Nano, recs[0]["received"])
	stored, err2 := time.Parse(time.RFC3339Nano, api[0]["vigil.received"])
	if err1 != nil || err2 != nil || !exact.Truncate(time.Millisecond).Equal(stored) {
		t.Errorf("journal received %q and event vigil.received %q differ", recs[0]["received"], api[0]["vigil.received"])
	}
}

// TestExampleConfig starts vigil the way deploy/systemd/vigil.service does,
// with deploy/vigil.yaml, so that the example stays loadable.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(deployFile(t, "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// --data, --http and --syslog override the file, as in the unit file.
	v := startVigil(t, vigilOpts{config: string(b)})
	tok := token("example")
	sendUDP(t, v.syslogAddr, []byte(rfc5424(14, "h", "app", tok)))
	checkCommon(t, v.waitOne(t, tok), "syslog")
	if code := v.stop(t); code != 0 {
		t.Errorf("vigil exit code after SIGTERM = %d, want 0", code)
	}
}
