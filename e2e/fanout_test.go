package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startCluster starts one vigil serve per name, each listing the others
// as peers (cluster.peers) with the token of the other's data directory.
func startCluster(t *testing.T, names ...string) map[string]*vigil {
	t.Helper()
	nodes, _ := startClusterWith(t, "", names...)
	return nodes
}

// startClusterWith is startCluster with more configuration for every
// node (YAML of other top-level keys than cluster); it also returns each
// node's options, to start a node again on its data directory.
func startClusterWith(t *testing.T, extra string, names ...string) (map[string]*vigil, map[string]vigilOpts) {
	t.Helper()
	type node struct {
		data           string
		http, syslog   int
		token, tokFile string
	}
	nodes := map[string]*node{}
	for _, name := range names {
		n := &node{data: filepath.Join(t.TempDir(), "data"), http: freePort(t), syslog: freePort(t), token: token("tok-" + name + "-0123456789")}
		if err := os.Mkdir(n.data, 0o700); err != nil {
			t.Fatal(err)
		}
		n.tokFile = filepath.Join(n.data, "api-token")
		if err := os.WriteFile(n.tokFile, []byte(n.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
	}
	out := map[string]*vigil{}
	opts := map[string]vigilOpts{}
	for _, name := range names {
		cfg := extra + fmt.Sprintf("cluster:\n  name: %s\n  peer_timeout: 10s\n  peers:\n", name)
		for _, peer := range names {
			if peer != name {
				p := nodes[peer]
				cfg += fmt.Sprintf("    - {name: %s, url: 'http://127.0.0.1:%d', token_file: '%s'}\n", peer, p.http, p.tokFile)
			}
		}
		n := nodes[name]
		opts[name] = vigilOpts{dataDir: n.data, httpPort: n.http, syslogPort: n.syslog, config: cfg}
		out[name] = startVigil(t, opts[name])
	}
	return out, opts
}

// hitsPage is the answer of /api/v1/search/hits.
type hitsPage struct {
	Events []struct {
		ID     string            `json:"id"`
		Node   string            `json:"node"`
		Time   time.Time         `json:"time"`
		Fields map[string]string `json:"fields"`
	} `json:"events"`
	More   bool                `json:"more"`
	Cursor string              `json:"cursor"`
	Failed []map[string]string `json:"failed"`
}

// TestFanoutSearch: three nodes that list each other as peers, each
// receiving its own syslog lines. A search through any node finds every
// node's events in time order, pages across nodes, sums the histogram,
// opens an event of another node, and vigil search --server shows them;
// with one node stopped the others answer and name it as failed.
func TestFanoutSearch(t *testing.T) {
	t.Parallel()
	names := []string{"a", "b", "c"}
	nodes := startCluster(t, names...)
	tok := token("fanout")
	// 30 events a second apart, event i on node i%3, newest last; two
	// more share the newest second on b and c.
	now := time.Now().UTC().Truncate(time.Second)
	lines := map[string][]byte{}
	add := func(node string, at time.Time, msg string) {
		lines[node] = append(lines[node], fmt.Sprintf("<13>1 %s host-%s app - - - %s\n", at.Format(time.RFC3339), node, msg)...)
	}
	for i := range 30 {
		add(names[i%3], now.Add(-time.Duration(30-i)*time.Second), fmt.Sprintf("%s e%02d", tok, i))
	}
	add("c", now.Add(-time.Second), tok+" c-same")
	add("b", now.Add(-time.Second), tok+" b-same")
	// Newest first; at now-1s node b's event, then c's two, the one c
	// took last first (vigil.seq descending).
	want := []string{tok + " b-same", tok + " c-same"}
	for i := 29; i >= 0; i-- {
		want = append(want, fmt.Sprintf("%s e%02d", tok, i))
	}
	for name, b := range lines {
		sendTCP(t, nodes[name].syslogAddr, b)
	}
	total := len(want)
	for _, name := range names {
		// Each node finds every node's events.
		nodes[name].waitEvents(t, tok, total)
	}

	for _, name := range names {
		v := nodes[name]
		// Pages of 7 through this node: every event once, newest first.
		var got []string
		cursor := ""
		for pages := 0; pages < 10; pages++ {
			var p hitsPage
			getJSON(t, v, "/api/v1/search/hits?"+url.Values{"q": {tok}, "start": {"1h"}, "size": {"7"}, "cursor": {cursor}}.Encode(), &p)
			if len(p.Failed) > 0 {
				t.Fatalf("node %s: failed %v", name, p.Failed)
			}
			for _, e := range p.Events {
				got = append(got, e.Fields["_msg"])
				if host := e.Fields["host.hostname"]; host != "host-"+e.Node || e.ID == "" {
					t.Errorf("node %s: event %q of node %q from %s, id %q", name, e.Fields["_msg"], e.Node, host, e.ID)
				}
			}
			if !p.More {
				break
			}
			cursor = p.Cursor
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("node %s: pages give\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var h struct {
			Total   int `json:"total"`
			Buckets []struct {
				Count int `json:"count"`
			} `json:"buckets"`
		}
		getJSON(t, v, "/api/v1/search/histogram?"+url.Values{"q": {tok}, "start": {"1h"}}.Encode(), &h)
		sum := 0
		for _, b := range h.Buckets {
			sum += b.Count
		}
		if h.Total != total || sum != total {
			t.Errorf("node %s: histogram total %d, buckets %d, want %d", name, h.Total, sum, total)
		}
	}

	// An event of node c, opened through node a by its link (with its
	// node) and by its id alone.
	var p hitsPage
	getJSON(t, nodes["a"], "/api/v1/search/hits?"+url.Values{"q": {tok + " host.hostname:=host-c"}, "start": {"1h"}, "size": {"1"}}.Encode(), &p)
	if len(p.Events) != 1 || p.Events[0].Node != "c" {
		t.Fatalf("node c's newest event: %+v", p.Events)
	}
	ev := p.Events[0]
	for _, q := range []string{"&node=c", ""} {
		var d struct {
			ID, Node string
			Raw      struct{ Data string }
		}
		getJSON(t, nodes["a"], "/api/v1/events/"+ev.ID+"?at="+url.QueryEscape(ev.Time.Format(time.RFC3339Nano))+q, &d)
		if d.ID != ev.ID || d.Node != "c" || !strings.Contains(d.Raw.Data, ev.Fields["_msg"]) {
			t.Errorf("event %s%s through a: %+v", ev.ID, q, d)
		}
	}

	// vigil search through node b prints node a's and c's events.
	out, stderr, code := runVigil(t, "search", "--server", nodes["b"].httpURL, "--token", nodes["b"].token, "--limit", "100", tok)
	cli, err := parseEvents([]byte(out))
	if code != 0 || err != nil || len(cli) != total {
		t.Fatalf("vigil search: exit %d, %d events (%v): %s", code, len(cli), err, stderr)
	}
	// Newest first; events of the same instant in no set order (as
	// from one node).
	byNode := map[string]int{}
	var msgs []string
	for i, e := range cli {
		byNode[e["vigil.node"]]++
		msgs = append(msgs, e["_msg"])
		if i > 0 && e["_time"] > cli[i-1]["_time"] {
			t.Errorf("vigil search: line %d (%s) is newer than the one before", i, e["_time"])
		}
	}
	slices.Sort(msgs)
	if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(msgs, sorted) {
		t.Errorf("vigil search printed\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(sorted, "\n"))
	}
	if byNode["a"] != 10 || byNode["b"] != 11 || byNode["c"] != 11 {
		t.Errorf("vigil search: events by node %v", byNode)
	}

	// The console's search page through node a shows c's events.
	b := startBrowser(t, nodes["a"])
	b.login("admin", adminPassword(t, nodes["a"]))
	b.visit("/search?q=" + url.QueryEscape(tok) + "&columns=host.hostname,_msg")
	b.do(chromedp.WaitVisible(chromedp.CSS("table.events tbody tr")))
	if got := b.text(".summary strong"); got != fmt.Sprintf("%d events", total) {
		t.Errorf("console summary %q", got)
	}

	// Node c stops: a and b still answer, naming c as failed.
	nodes["c"].stop(t)
	var part hitsPage
	getJSON(t, nodes["a"], "/api/v1/search/hits?"+url.Values{"q": {tok}, "start": {"1h"}, "size": {"100"}}.Encode(), &part)
	if len(part.Events) != 21 || len(part.Failed) != 1 || part.Failed[0]["node"] != "c" || part.Failed[0]["error"] == "" {
		t.Errorf("with c stopped: %d events, failed %v", len(part.Events), part.Failed)
	}
	for _, e := range part.Events {
		if e.Node == "c" {
			t.Errorf("with c stopped: event of c %q", e.Fields["_msg"])
		}
	}
	out, stderr, code = runVigil(t, "search", "--server", nodes["a"].httpURL, "--token", nodes["a"].token, tok)
	if cli, err = parseEvents([]byte(out)); code != 0 || err != nil || len(cli) != 21 || !strings.Contains(stderr, "warning: node c: ") {
		t.Errorf("vigil search with c stopped: exit %d, %d events (%v), stderr %q", code, len(cli), err, stderr)
	}
	b.visit("/search?q=" + url.QueryEscape(tok))
	if got := b.text(".search-warning"); !strings.Contains(got, "Node c: ") {
		t.Errorf("console warning %q", got)
	}
	b.screenshot("search-peer-failed")
	b.switchLanguage("zh-CN")
	b.visit("/search?q=" + url.QueryEscape(tok))
	if got := b.text(".search-warning"); !strings.Contains(got, "部分节点未响应") || !strings.Contains(got, "节点 c：") {
		t.Errorf("console warning in Chinese %q", got)
	}
}
