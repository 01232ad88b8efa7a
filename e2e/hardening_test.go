package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// getHost fetches a path of the API with the given Host header, as a
// browser that resolved that name to Vigil's address would.
func (v *vigil) getHost(t *testing.T, path, host string, auth bool) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.httpURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if auth {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostCheck: a request whose Host names another site, as a page that
// re-pointed its own name at 127.0.0.1 (DNS rebinding) would send, gets
// neither /metrics nor search results; loopback addresses, localhost and
// the names in http.allowed_hosts do; /healthz answers everyone.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	v := startVigil(t, vigilOpts{config: "http:\n  allowed_hosts: [vigil.test]\n"})
	_, port, _ := strings.Cut(strings.TrimPrefix(v.httpURL, "http://"), ":")
	for _, tt := range []struct {
		path, host string
		auth       bool
		code       int
	}{
		{"/metrics", "evil.example:" + port, false, http.StatusMisdirectedRequest},
		{"/api/v1/search?q=*", "evil.example:" + port, true, http.StatusMisdirectedRequest},
		{"/api/v1/status", "evil.example", true, http.StatusMisdirectedRequest},
		{"/healthz", "evil.example:" + port, false, http.StatusOK},
		{"/metrics", "localhost:" + port, false, http.StatusOK},
		{"/metrics", "127.0.0.1:" + port, false, http.StatusOK},
		{"/api/v1/status", "vigil.test:" + port, true, http.StatusOK},
		{"/api/v1/status", "VIGIL.TEST", true, http.StatusOK},
	} {
		code, body := v.getHost(t, tt.path, tt.host, tt.auth)
		if code != tt.code {
			t.Errorf("%s with Host %s: HTTP %d %.200s, want %d", tt.path, tt.host, code, body, tt.code)
		}
		if code == http.StatusMisdirectedRequest && !strings.Contains(body, "http.allowed_hosts") {
			t.Errorf("%s with Host %s: %s does not say how to allow the host", tt.path, tt.host, body)
		}
	}
	if got := v.metrics(t)["vigil_api_host_rejected_total"]; got != 3 {
		t.Errorf("vigil_api_host_rejected_total = %v, want 3", got)
	}
}

// TestStreamGroups: a group-by on _stream labels each group with its
// stream; plain events still come without _stream and _stream_id.
func TestStreamGroups(t *testing.T) {
	t.Parallel()
	v := startVigil(t, vigilOpts{})
	tok := token("streams")
	sendTCP(t, v.syslogAddr, []byte(rfc5424(14, "host-a", "app", tok)+"\n"+rfc5424(14, "host-b", "app", tok)+"\n"))
	evs := v.waitEvents(t, tok, 2)
	for _, ev := range evs {
		if _, ok := ev["_stream"]; ok {
			t.Errorf("plain event has _stream: %v", ev)
		}
		if _, ok := ev["_stream_id"]; ok {
			t.Errorf("plain event has _stream_id: %v", ev)
		}
	}
	groups, err := v.search(tok+" | stats by (_stream) count() n", searchParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 {
		t.Fatalf("got %d groups, want one per host: %v", len(groups), groups)
	}
	for _, g := range groups {
		if !strings.Contains(g["_stream"], `host.hostname="host-`) || g["n"] != "1" {
			t.Errorf("group %v: want _stream naming its host and n 1", g)
		}
	}
}

// TestSearchLimits: a search past http.search_timeout is answered 503 with
// an error naming the setting; one whose results pass
// http.search_max_bytes ends with an error line; both are counted.
func TestSearchLimits(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		// No search finishes within a nanosecond: every one times out.
		v := startVigil(t, vigilOpts{config: "http:\n  search_timeout: 1ns\n"})
		code, body, err := v.get("/api/v1/search?q=*", true)
		if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(string(body), "http.search_timeout") {
			t.Fatalf("HTTP %d %s %v, want 503 naming http.search_timeout", code, body, err)
		}
		// At least this one: the overview's background blocks are searches
		// within the same limits and may have timed out too.
		if got := v.metrics(t)[`vigil_api_search_rejected_total{reason="timeout"}`]; got < 1 {
			t.Errorf(`vigil_api_search_rejected_total{reason="timeout"} = %v, want at least 1`, got)
		}
	})
	t.Run("max bytes", func(t *testing.T) {
		t.Parallel()
		v := startVigil(t, vigilOpts{config: "http:\n  search_max_bytes: 2KiB\n"})
		tok := token("bytes")
		var msgs []byte
		for i := range 20 {
			msgs = append(msgs, rfc5424(14, "h", "app", fmt.Sprintf("%s %d %s", tok, i, strings.Repeat("x", 100)))+"\n"...)
		}
		sendTCP(t, v.syslogAddr, msgs)
		deadline := time.Now().Add(waitTimeout)
		for n, _ := v.count(tok); n < 20; n, _ = v.count(tok) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of 20 events searchable within %s", n, waitTimeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
		code, body, err := v.get("/api/v1/search?"+url.Values{"q": {tok}, "limit": {"20"}}.Encode(), true)
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		last := lines[len(lines)-1]
		if err != nil || code != http.StatusOK || len(lines) >= 20 || !strings.Contains(last, `"error":"search stopped`) ||
			!strings.Contains(last, "http.search_max_bytes") {
			t.Fatalf("HTTP %d, %d lines, last %s (%v); want some events, then an error line naming http.search_max_bytes", code, len(lines), last, err)
		}
		if got := v.metrics(t)[`vigil_api_search_rejected_total{reason="too_large"}`]; got < 1 {
			t.Errorf(`vigil_api_search_rejected_total{reason="too_large"} = %v, want at least 1`, got)
		}
	})
}

// TestDataModes: everything vigil creates under its data directory is for
// its own user (directories 0700, files 0600; the storage engine's files
// are inside the 0700 store/), and a path made looser is warned about at
// the next start, with the chmod that fixes it.
func TestDataModes(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir})
	tok := token("modes")
	sendTCP(t, v.syslogAddr, []byte(rfc5424(14, "h", "app", tok)+"\n"))
	v.waitOne(t, tok)
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code %d after SIGTERM", code)
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		seen[rel] = true
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %#o, want %#o", rel, fi.Mode().Perm(), want)
		}
		if rel == "store" {
			return filepath.SkipDir // the engine's own files
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".", "api-token", "journal", "journal/cursors", "journal/cursors/index", "store", "detect", "detect/state"} {
		if !seen[p] {
			t.Errorf("%s was not created", p)
		}
	}

	journalDir := filepath.Join(dataDir, "journal")
	if err := os.Chmod(journalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir})
	log := tail(v.logPath, 64<<10)
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, `fix="chmod 700 `+journalDir+`"`) {
		t.Fatalf("no warning about %s (mode 0755) at start:\n%s", journalDir, log)
	}
	if n := strings.Count(log, `fix="chmod`); n != 1 {
		t.Errorf("%d warnings about modes, want 1 (only journal/ is loose):\n%s", n, log)
	}
}
