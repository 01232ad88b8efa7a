package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var lineRE = regexp.MustCompile(`^<190>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d proxy[12] nginx: (\{.*\})$`)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := generate(p, 5000, 7, start, time.Hour, 0); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Fatal("same seed gave different files")
	}
	lines := strings.Split(strings.TrimSuffix(string(da), "\n"), "\n")
	if len(lines) != 5000 {
		t.Fatalf("got %d lines, want 5000", len(lines))
	}
	statuses := map[float64]int{}
	for i, l := range lines {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d has not the nginx syslog shape: %q", i, l)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(m[1]), &v); err != nil {
			t.Fatalf("line %d: payload is not JSON: %v: %s", i, err, m[1])
		}
		for _, k := range []string{"source", "ip", "user", "time_local", "statuscode", "bytes_sent", "http_referer",
			"http_user_agent", "request_uri", "request_time", "gzip_ration", "query_string"} {
			if _, ok := v[k]; !ok {
				t.Fatalf("line %d: no %q: %s", i, k, m[1])
			}
		}
		statuses[v["statuscode"].(float64)]++
	}
	for _, s := range []float64{200, 302, 401, 440, 500} {
		if statuses[s] == 0 {
			t.Errorf("no status %v in 5000 lines: %v", s, statuses)
		}
	}
	if avg := len(da) / len(lines); avg < 350 || avg > 550 {
		t.Errorf("average line is %d bytes, want about 400-500", avg)
	}
}

func TestSplitAndOctet(t *testing.T) {
	data := []byte("a\nbb\nccc\ndddd\n")
	for n := 1; n <= 2; n++ {
		parts := split(data, n)
		if len(parts) != n || !bytes.Equal(bytes.Join(parts, nil), data) {
			t.Fatalf("split(%d) = %q", n, parts)
		}
		for _, p := range parts {
			if len(p) > 0 && p[len(p)-1] != '\n' {
				t.Fatalf("split(%d): part %q does not end a line", n, p)
			}
		}
	}
	if got, want := string(octetFrame(data)), "1 a2 bb3 ccc4 dddd"; got != want {
		t.Fatalf("octetFrame = %q, want %q", got, want)
	}
}

// TestSend: the whole file arrives over two connections, as fast as
// possible or paced (a paced send cannot finish before its schedule's last
// step: 1000 lines at 5000 lines/s take at least 0.19 s).
func TestSend(t *testing.T) {
	for _, rate := range []int{0, 5000} {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) { testSend(t, rate) })
	}
}

func testSend(t *testing.T, rate int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				var buf bytes.Buffer
				_, _ = buf.ReadFrom(c)
				c.Close()
				got <- buf.Bytes()
			}()
		}
	}()
	path := filepath.Join(t.TempDir(), "in")
	if err := generate(path, 1000, 1, time.Now(), time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sendFile(&out, path, ln.Addr().String(), 2, false, rate); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	n := 0
	for range 2 {
		select {
		case b := <-got:
			n += len(b)
		case <-time.After(30 * time.Second):
			t.Fatal("receiver got nothing")
		}
	}
	if n != len(want) {
		t.Fatalf("received %d bytes, sent file has %d", n, len(want))
	}
	if !strings.Contains(out.String(), "lines=1000 ") {
		t.Fatalf("report %q lacks lines=1000", out.String())
	}
	if rate > 0 {
		var elapsed float64
		if _, err := fmt.Sscanf(out.String()[strings.Index(out.String(), "elapsed="):], "elapsed=%fs", &elapsed); err != nil {
			t.Fatalf("report %q: %v", out.String(), err)
		}
		if elapsed < 0.19 || !strings.Contains(out.String(), " rate=5000 behind_max=") {
			t.Fatalf("paced at %d lines/s, report %q: want elapsed >= 0.19s and the rate", rate, out.String())
		}
	}
}

func TestWaitLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = os.WriteFile(path, []byte("a\nb\nc\n"), 0o644)
	}()
	var out bytes.Buffer
	if err := waitLines(&out, path, 3, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lines=3") {
		t.Fatalf("report %q", out.String())
	}
	if err := waitLines(&out, path, 4, 100*time.Millisecond); err == nil {
		t.Fatal("waiting for a 4th line that never comes succeeded")
	}
}

func TestWaitSearch(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		n := calls.Add(1)
		if n == 1 {
			return // empty answer before the first row
		}
		fmt.Fprintf(w, "{\"rows\":\"%d\"}\n", 10*n)
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := waitSearch(&out, srv.URL, "tok", 30, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lines=30") {
		t.Fatalf("report %q", out.String())
	}
	if err := waitSearch(&out, srv.URL, "bad", 30, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: err = %v", err)
	}
}

// TestWaitSearchNodes: a node with cluster.peers answers a count with one
// row per node; -wait counts their sum.
func TestWaitSearchNodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"rows":"20","vigil.node":"a"}`)
		fmt.Fprintln(w, `{"rows":"15","vigil.node":"b"}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := waitSearch(&out, srv.URL, "", 35, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lines=35") || !strings.Contains(out.String(), "first_unix_ns=") {
		t.Fatalf("report %q", out.String())
	}
}

var zhLineRE = regexp.MustCompile(`^<\d+>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z mail0[1-4] \S+ \d+ - (-|\[bg@32473 h="([^"]*)"\]) (.+)$`)

// TestGenerateZH: -zh lines are RFC 5424 with Chinese and English
// messages, the same for the same seed; -bigrams adds the messages' pairs
// of Han characters and nothing else.
func TestGenerateZH(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	plain, pairs := filepath.Join(dir, "plain"), filepath.Join(dir, "pairs")
	if err := generateZH(plain, 100_000, 7, start, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if err := generateZH(pairs, 100_000, 7, start, time.Hour, true); err != nil {
		t.Fatal(err)
	}
	dp, _ := os.ReadFile(plain)
	db, _ := os.ReadFile(pairs)
	lp := strings.Split(strings.TrimSuffix(string(dp), "\n"), "\n")
	lb := strings.Split(strings.TrimSuffix(string(db), "\n"), "\n")
	if len(lp) != 100_000 || len(lb) != len(lp) {
		t.Fatalf("got %d and %d lines, want 100000", len(lp), len(lb))
	}
	counts := map[string]int{}
	for i := range lp {
		mp, mb := zhLineRE.FindStringSubmatch(lp[i]), zhLineRE.FindStringSubmatch(lb[i])
		if mp == nil || mb == nil || mp[1] != "-" || mb[3] != mp[3] {
			t.Fatalf("line %d:\n%s\n%s", i, lp[i], lb[i])
		}
		for _, w := range []string{zhRare, "张伟", "登录失败", "钓鱼网站", "{", "connect from"} {
			if strings.Contains(mp[3], w) {
				counts[w]++
			}
		}
		if i == 0 && mb[2] == "" {
			t.Errorf("line 0 has no pairs: %s", lb[i])
		}
	}
	want := map[string][2]int{zhRare: {1, 1}, "张伟": {100, 1000}, "登录失败": {7500, 17500}, "钓鱼网站": {0, 0},
		"{": {5000, 15000}, "connect from": {4000, 10000}}
	for w, r := range want {
		if counts[w] < r[0] || counts[w] > r[1] {
			t.Errorf("%s in %d lines, want %d-%d", w, counts[w], r[0], r[1])
		}
	}
}

func TestAppendBigrams(t *testing.T) {
	g := newZHGenerator(1, true)
	for in, want := range map[string]string{
		"用户张伟登录失败，张伟":  "用户 户张 张伟 伟登 登录 录失 失败",
		"abc 张 伟x李娜":   "李娜",
		"connect from": "",
	} {
		if got := string(g.appendBigrams(nil, in)); got != want {
			t.Errorf("appendBigrams(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkAppendBigrams is what computing the pairs of Han characters
// costs per event of -zh (docs/benchmarks.md, "Chinese search").
func BenchmarkAppendBigrams(b *testing.B) {
	g := newZHGenerator(1, false)
	var msgs []string
	for i := range 1000 {
		line := string(g.line(nil, time.Unix(0, 0), i))
		msgs = append(msgs, line[strings.Index(line, " - - ")+5:])
	}
	var buf []byte
	b.ResetTimer()
	for i := range b.N {
		buf = g.appendBigrams(buf[:0], msgs[i%len(msgs)])
	}
}
