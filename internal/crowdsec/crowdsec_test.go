package crowdsec

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	clk   *clock
	store *decision.Store
	keys  *service.Bouncers
	srv   *httptest.Server
	key   string
}

func newFixture(t *testing.T) *fixture { return newFixtureIn(t, "") }

// newFixtureIn keeps the decision log in dir ("": in memory).
func newFixtureIn(t *testing.T, dir string) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
	st, err := decision.Open(context.Background(), decision.Options{Dir: dir, Policy: decision.Policy{Enabled: true}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys := service.NewBouncers(db, clk.Now)
	admin := service.Actor{Name: "test", Role: service.RoleAdmin, Via: "cli"}
	key, err := keys.Add(context.Background(), admin, "fw")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Source: st, Keys: keys, Now: clk.Now}))
	t.Cleanup(srv.Close)
	return &fixture{t: t, clk: clk, store: st, keys: keys, srv: srv, key: key}
}

func (f *fixture) add(scope decision.Scope, value string, d time.Duration) decision.Decision {
	f.t.Helper()
	dec, err := f.store.Add(context.Background(), decision.Decision{Scope: scope, Value: value, Type: decision.TypeBan,
		Origin: "rule:brute-force-source", Reason: "test", Until: f.clk.Now().Add(d)})
	if err != nil {
		f.t.Fatal(err)
	}
	return dec
}

// get returns the status and body of path with key.
func (f *fixture) get(path, key string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	req.Header.Set("User-Agent", "crowdsec-custom-bouncer/-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type gotItem struct {
	ID       int64  `json:"id"`
	Origin   string `json:"origin"`
	Type     string `json:"type"`
	Scope    string `json:"scope"`
	Value    string `json:"value"`
	Duration string `json:"duration"`
	Scenario string `json:"scenario"`
}

// values lists the values of a stream answer: "new:1.2.3.4", "del:...".
func values(t *testing.T, body string) []string {
	t.Helper()
	var b struct{ New, Deleted []gotItem }
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for _, it := range b.New {
		out = append(out, "new:"+it.Value)
	}
	for _, it := range b.Deleted {
		out = append(out, "del:"+it.Value)
	}
	return out
}

func TestStream(t *testing.T) {
	f := newFixture(t)
	a := f.add(decision.ScopeIP, "203.0.113.7", time.Hour)
	f.add(decision.ScopeRange, "198.51.100.0/24", 10*time.Second)
	f.add(decision.ScopeUser, "alice", time.Hour)
	f.clk.Add(10 * time.Second / 2)

	code, body := f.get("/v1/decisions/stream?startup=true", f.key)
	if code != http.StatusOK {
		t.Fatalf("startup: %d %s", code, body)
	}
	var first struct {
		New     []gotItem
		Deleted []gotItem
	}
	if err := json.Unmarshal([]byte(body), &first); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"deleted":null`) || len(first.New) != 2 {
		t.Fatalf("startup: want the ip and range decisions and deleted null, got %s", body)
	}
	want := gotItem{ID: a.ID, Origin: "vigil", Type: "ban", Scope: "Ip", Value: "203.0.113.7", Duration: "59m55s", Scenario: "brute-force-source"}
	if first.New[0] != want {
		t.Errorf("startup item:\n got %+v\nwant %+v", first.New[0], want)
	}
	if first.New[1].Scope != "Range" {
		t.Errorf("second item: %+v", first.New[1])
	}

	code, body = f.get("/v1/decisions/stream", f.key)
	if code != http.StatusOK || body != `{"new":null,"deleted":null}` {
		t.Fatalf("nothing changed: want both null, got %d %s", code, body)
	}

	// Added, deleted, expired since the last pull.
	b := f.add(decision.ScopeIP, "192.0.2.9", time.Hour)
	if err := f.store.Delete(context.Background(), a.ID, "operator:x"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(10 * time.Second)
	_, body = f.get("/v1/decisions/stream?startup=false", f.key)
	got := strings.Join(values(t, body), " ")
	if got != "new:192.0.2.9 del:203.0.113.7 del:198.51.100.0/24" {
		t.Errorf("delta: got %q (%s)", got, body)
	}
	if _, body = f.get("/v1/decisions/stream", f.key); body != `{"new":null,"deleted":null}` {
		t.Errorf("second delta: %s", body)
	}

	// User and device only when asked for. At startup, what ended (the
	// deleted address, the expired range) goes as deleted, as CrowdSec
	// sends it, for bouncers that kept their state.
	_, body = f.get("/v1/decisions/stream?startup=true&scopes=ip,user", f.key)
	if got := strings.Join(values(t, body), " "); got != "new:alice new:192.0.2.9 del:203.0.113.7" {
		t.Errorf("scopes=ip,user: %q", got)
	}
	_, body = f.get("/v1/decisions/stream?startup=true&scenarios_not_containing=brute", f.key)
	if !strings.Contains(body, `"new":null`) {
		t.Errorf("scenarios_not_containing: %s", body)
	}
	_, body = f.get("/v1/decisions/stream?startup=true&origins=crowdsec", f.key)
	if !strings.Contains(body, `"new":null`) {
		t.Errorf("origins=crowdsec: %s", body)
	}
	_, body = f.get("/v1/decisions/stream?startup=true&origins=vigil&scenarios_containing=force", f.key)
	if got := strings.Join(values(t, body), " "); got != "new:192.0.2.9 del:203.0.113.7 del:198.51.100.0/24" {
		t.Errorf("origins=vigil: %q", got)
	}
	_ = b
	// A subject banned again is not in deleted at startup: bouncers
	// apply deleted first, and must keep the new ban.
	f.add(decision.ScopeIP, "203.0.113.7", time.Hour)
	_, body = f.get("/v1/decisions/stream?startup=true", f.key)
	if got := strings.Join(values(t, body), " "); got != "new:192.0.2.9 new:203.0.113.7 del:198.51.100.0/24" {
		t.Errorf("startup with a subject banned again: %q", got)
	}

	infos, err := f.keys.Infos()
	if err != nil || len(infos) != 1 || !infos[0].LastPull.Equal(f.clk.Now()) || infos[0].LastAgent != "crowdsec-custom-bouncer/-" {
		t.Errorf("last pull: %+v %v", infos, err)
	}
}

// TestStreamAcrossRestart: a bouncer's cursor outlives Vigil. Decisions
// added and deleted around a restart reach the bouncer once each: what it
// had is not sent again, what it missed is.
func TestStreamAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	f := newFixtureIn(t, dir)
	a := f.add(decision.ScopeIP, "203.0.113.7", time.Hour)
	if _, body := f.get("/v1/decisions/stream?startup=true", f.key); strings.Join(values(t, body), " ") != "new:203.0.113.7" {
		t.Fatalf("startup: %s", body)
	}
	f.add(decision.ScopeIP, "192.0.2.1", time.Hour) // not pulled before the restart
	if err := f.store.Delete(context.Background(), a.ID, "operator:x"); err != nil {
		t.Fatal(err)
	}

	// The restart: a new store replays (and compacts) the log; the
	// bouncer's cursor is in the state database.
	f.srv.Close()
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := decision.Open(context.Background(), decision.Options{Dir: dir, Policy: decision.Policy{Enabled: true}, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	f.srv = httptest.NewServer(New(Options{Source: st, Keys: f.keys, Now: f.clk.Now}))
	t.Cleanup(f.srv.Close)
	f.add(decision.ScopeIP, "192.0.2.2", time.Hour)

	_, body := f.get("/v1/decisions/stream", f.key)
	if got := strings.Join(values(t, body), " "); got != "new:192.0.2.1 new:192.0.2.2 del:203.0.113.7" {
		t.Errorf("after the restart: %q (%s)", got, body)
	}
	if _, body = f.get("/v1/decisions/stream", f.key); body != `{"new":null,"deleted":null}` {
		t.Errorf("again: %s", body)
	}
}

func TestLive(t *testing.T) {
	f := newFixture(t)
	f.add(decision.ScopeIP, "203.0.113.7", time.Hour)
	f.add(decision.ScopeRange, "198.51.100.0/24", time.Hour)
	f.add(decision.ScopeUser, "alice", time.Hour)
	for _, c := range []struct {
		query, want string
		code        int
	}{
		{"ip=203.0.113.7", "203.0.113.7", 200},
		{"ip=198.51.100.20", "198.51.100.0/24", 200},
		{"ip=192.0.2.1", "null", 200},
		{"range=198.51.100.0/25", "198.51.100.0/24", 200},
		{"range=198.51.0.0/16", "null", 200},
		{"range=198.51.0.0/16&contains=false", "198.51.100.0/24", 200},
		{"scope=user&value=ALICE", "alice", 200},
		{"scope=ip&value=203.0.113.7&type=captcha", "null", 200},
		{"ip=not-an-ip", "", 400},
		{"", "203.0.113.7 198.51.100.0/24", 200},
	} {
		code, body := f.get("/v1/decisions?"+c.query, f.key)
		if code != c.code {
			t.Errorf("%s: %d %s", c.query, code, body)
			continue
		}
		if code != 200 {
			continue
		}
		var items []gotItem
		if err := json.Unmarshal([]byte(body), &items); err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		var vs []string
		for _, it := range items {
			vs = append(vs, it.Value)
		}
		got := strings.Join(vs, " ")
		if body == "null" {
			got = "null"
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q (%s)", c.query, got, c.want, body)
		}
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	for _, key := range []string{"", "operator-token-0123456789", f.key + "x", strings.ToUpper(f.key)} {
		for _, p := range []string{"/v1/decisions/stream?startup=true", "/v1/decisions?ip=1.2.3.4"} {
			code, body := f.get(p, key)
			if code != http.StatusForbidden || !strings.Contains(body, `"message":"access forbidden"`) {
				t.Errorf("%s with key %q: %d %s", p, key, code, body)
			}
		}
	}
	if err := f.keys.Delete(context.Background(), service.Actor{Name: "t", Role: service.RoleAdmin}, "fw"); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.get("/v1/decisions/stream", f.key); code != http.StatusForbidden {
		t.Errorf("deleted bouncer's key: %d", code)
	}
}

// TestConcurrentPulls pulls one bouncer's stream from many goroutines
// while decisions are added: pulls are served one at a time, so every
// decision reaches the bouncer.
func TestConcurrentPulls(t *testing.T) {
	f := newFixture(t)
	if code, _ := f.get("/v1/decisions/stream?startup=true", f.key); code != http.StatusOK {
		t.Fatal(code)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if g == 0 {
					f.add(decision.ScopeIP, fmt.Sprintf("203.0.113.%d", i+1), time.Hour)
				}
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/decisions/stream", nil)
				req.Header.Set("X-Api-Key", f.key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var b struct{ New []gotItem }
				err = json.NewDecoder(resp.Body).Decode(&b)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil {
					t.Errorf("pull: %d %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				for _, it := range b.New {
					got[it.Value] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	_, body := f.get("/v1/decisions/stream", f.key)
	for _, v := range values(t, body) {
		got[strings.TrimPrefix(v, "new:")] = true
	}
	if len(got) != 10 {
		t.Errorf("the bouncer received %d of the 10 decisions: %v", len(got), got)
	}
}
