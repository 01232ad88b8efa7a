package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/rules"
)

// end is a fixed end of the day: no test depends on the calendar.
var end = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// day1 is the default day of seed 1, generated once for the tests that
// only read it.
var day1 = sync.OnceValues(func() (*Scenario, error) { return Generate(Options{Seed: 1, End: end}) })

func generate(t *testing.T, seed uint64) *Scenario {
	t.Helper()
	var (
		s   *Scenario
		err error
	)
	if seed == 1 {
		s, err = day1()
	} else {
		s, err = Generate(Options{Seed: seed, End: end, Users: 100})
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func digest(t *testing.T, s *Scenario) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := s.WriteTo(h); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	a, b := generate(t, 7), generate(t, 7)
	if digest(t, a) != digest(t, b) {
		t.Fatal("the same seed and end gave different bytes")
	}
	if !slices.Equal(a.Expected(), b.Expected()) {
		t.Fatalf("the same seed gave different expectations: %v, %v", a.Expected(), b.Expected())
	}
	if digest(t, a) == digest(t, generate(t, 8)) {
		t.Fatal("seeds 7 and 8 gave the same bytes")
	}
	// The day ends at the given time and starts a day earlier; the
	// history goes back History; the lines are in time order.
	first, last := a.Lines[0].At, a.Lines[len(a.Lines)-1].At
	if last.After(end) || first.Before(end.Add(-Day-History)) {
		t.Errorf("lines from %s to %s, want within %s before %s", first, last, Day+History, end)
	}
	if !slices.IsSortedFunc(a.Lines, func(x, y Line) int { return x.At.Compare(y.At) }) {
		t.Error("lines are not in time order")
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{End: end, Users: 99}, {End: end, Users: MaxUsers + 1}, {}} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v): no error", o)
		}
	}
	s, err := Generate(Options{End: end, Users: 100})
	if err != nil || len(s.Users) != 100 {
		t.Fatalf("100 users: %v, %d", err, len(s.Users))
	}
}

// linesWith returns the lines of a kind that contain every one of subs.
func linesWith(s *Scenario, k Kind, subs ...string) []Line {
	var out []Line
	for _, l := range s.Lines {
		if l.Kind != k {
			continue
		}
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(l.Text, sub)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func TestEpisodeCounts(t *testing.T) {
	s := generate(t, 1)
	byName := map[string]Episode{}
	for _, e := range s.Episodes {
		byName[e.Name] = e
	}
	user := func(ep string) string {
		g := byName[ep].Expect[0].Group
		g = strings.TrimPrefix(g, "user.name=")
		name, _, _ := strings.Cut(g, " ")
		return name
	}
	tests := []struct {
		name string
		kind Kind
		subs []string
		want int
	}{
		{"owa brute force at nginx", KindNginx, []string{`"ip":"198.51.100.23"`, "reason=2"}, 30},
		{"imap spraying", KindIMAP, []string{"203.0.113.77:", "NO LOGIN"}, 40},
		{"activesync spraying at nginx", KindNginx, []string{sprayDevice.ID, `"statuscode":401`}, 30},
		{"activesync spraying at iis", KindIIS, []string{sprayDevice.ID, " 401 1 1326 "}, 30},
		{"lockout failures at nginx", KindNginx, []string{"User=" + user("lockout") + "&", `"statuscode":401`}, 13},
		{"lockout at the domain controller", KindWindows, []string{`"EventID":4740`, `"TargetUserName":"` + user("lockout") + `"`}, 1},
		{"lockout signals at iis", KindIIS, []string{"User=" + user("lockout") + "&", " 401 1 1909 "}, 3},
		{"guessed password failures", KindIMAP, []string{guesser.String() + ":", "NO LOGIN"}, 11},
		{"guessed password success", KindIMAP, []string{guesser.String() + ":", "R=a1 OK"}, 1},
		{"new country at nginx", KindNginx, []string{`"ip":"` + foreignLogin.String() + `"`}, 20},
		{"mailbox export", KindAudit, []string{"New-MailboxExportRequest", "Users/" + user("mailbox-export")}, 1},
		{"request flood", KindNginx, []string{`"ip":"198.51.100.200"`, `"statuscode":503`}, 2400},
		{"request flood past the proxy", KindIIS, []string{"198.51.100.200"}, 0},
	}
	for _, tt := range tests {
		if got := len(linesWith(s, tt.kind, tt.subs...)); got != tt.want {
			t.Errorf("%s: %d lines, want %d", tt.name, got, tt.want)
		}
	}

	// Typos at home: single failures before a success, which raise
	// nothing (e2e/demo_test.go checks that no other alert comes).
	typos := 0
	for _, u := range s.Users {
		typos += len(linesWith(s, KindIMAP, u.Home.String()+":", "NO LOGIN"))
		typos += len(linesWith(s, KindNginx, `"ip":"`+u.Home.String()+`"`, "reason=2"))
	}
	if typos < 5 {
		t.Errorf("%d typos at home in the day, want a few", typos)
	}

	// Slow guessing: 12 addresses, 2 or 3 tries each, none private.
	victim := user("slow-guessing")
	ips := map[string]int{}
	for _, l := range linesWith(s, KindIMAP, ","+victim+"@corp.example,", "NO LOGIN") {
		if l.At.Before(s.Start.Add(byName["slow-guessing"].At)) {
			continue // a typo at home the evening before
		}
		f := strings.Split(l.Text, ",")
		ip, _, _ := strings.Cut(f[4], ":")
		ips[ip]++
	}
	if len(ips) < 12 {
		t.Errorf("slow guessing from %d addresses, want 12: %v", len(ips), ips)
	}
	for ip, n := range ips {
		if a := netip.MustParseAddr(ip); (n < 2 || n > 3) && !a.IsPrivate() {
			t.Errorf("slow guessing: %s tried %d times, want 2 or 3", ip, n)
		}
	}
}

// TestSourcesNeverSilent checks the premise of the proxy-silent episode:
// every access log source sends at least every few minutes all day, so
// that only proxy2, whose shipping stops, is silent for ten minutes.
func TestSourcesNeverSilent(t *testing.T) {
	s := generate(t, 1)
	last := map[string]time.Time{}
	for _, l := range s.Lines {
		if l.Kind != KindNginx && l.Kind != KindIIS || l.At.Before(s.Start) {
			continue
		}
		f := strings.Fields(l.Text)
		src := f[3] + " " + string(l.Kind) // the syslog hostname
		if p, ok := last[src]; ok && l.At.Sub(p) >= 5*time.Minute {
			t.Errorf("%s silent from %s to %s", src, p, l.At)
		}
		last[src] = l.At
	}
	for src, at := range last {
		want := s.End.Add(-5 * time.Minute)
		if src == "proxy2 nginx" {
			want = s.Start.Add(silentAt - time.Minute)
			if !at.Before(s.Start.Add(silentAt)) {
				t.Errorf("proxy2 sent at %s, after its shipping stopped", at)
			}
		}
		if at.Before(want) {
			t.Errorf("%s fell silent at %s", src, at)
		}
	}
	if len(last) != 4 {
		t.Errorf("access log sources: %v, want proxy1, proxy2, exch01 and exch02", last)
	}
}

// TestScenarioTable checks the scenario against the rule pack: every
// episode expects alerts of exactly the rules it lists, which exist.
func TestScenarioTable(t *testing.T) {
	s := generate(t, 1)
	seen := map[string]bool{}
	for _, e := range s.Episodes {
		var got []string
		for _, a := range e.Expect {
			got = append(got, a.Rule)
			if a.Episode != e.Name || a.Group == "" {
				t.Errorf("%s: alert %+v", e.Name, a)
			}
			k := a.Rule + " " + a.Group
			if seen[k] {
				t.Errorf("%s: %s expected twice", e.Name, k)
			}
			seen[k] = true
		}
		if !slices.Equal(got, e.Rules) {
			t.Errorf("%s: expects %v, lists %v", e.Name, got, e.Rules)
		}
		for _, r := range e.Rules {
			if _, err := rules.FS.ReadFile(r + ".yaml"); err != nil {
				t.Errorf("%s: rule %s is not in the built-in pack", e.Name, r)
			}
		}
	}
	if n := len(Episodes()); n != len(s.Episodes) || Episodes()[0].Expect != nil {
		t.Errorf("Episodes() = %d, want %d without alerts", n, len(s.Episodes))
	}
}

func TestGroup(t *testing.T) {
	for _, tt := range []struct {
		kv   []string
		want string
	}{
		{[]string{"user.name", "zhangwei"}, "user.name=zhangwei"},
		{[]string{"user.name", "li.na", "source.ip", "1.2.3.4"}, "user.name=li.na source.ip=1.2.3.4"},
		{[]string{"exchange.object", "Mailbox Import Export"}, `exchange.object="Mailbox Import Export"`},
	} {
		if got := group(tt.kv...); got != tt.want {
			t.Errorf("group(%q) = %q, want %q", tt.kv, got, tt.want)
		}
	}
}

// TestAddressCountries checks that the addresses whose country matters
// lie where the scenario needs them in the GeoIP test database.
func TestAddressCountries(t *testing.T) {
	path := os.Getenv("VIGIL_GEOIP_TESTDB")
	if path == "" {
		path = "/var/cache/vigil-test/geo-whois-asn-country.mmdb"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatalf("no GeoIP test database: %v", err)
		}
		t.Skipf("no GeoIP test database (scripts/fetch-geoip-testdb.sh): %v", err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := generate(t, 1)
	for _, u := range s.Users {
		for _, a := range []netip.Addr{u.Home, u.Carrier} {
			if c := db.Lookup(a).Country; c != "CN" {
				t.Errorf("%s: %s is in %q, want CN", u.Name, a, c)
			}
		}
		if !u.Workstation.IsPrivate() {
			t.Errorf("%s: workstation %s is not private", u.Name, u.Workstation)
		}
	}
	if c := db.Lookup(guesser).Country; c != "CN" {
		t.Errorf("the guesser %s is in %q, want CN (a login from elsewhere is the new-country episode's)", guesser, c)
	}
	if c := db.Lookup(foreignLogin).Country; c != foreignCountry {
		t.Errorf("the foreign login %s is in %q, want %s", foreignLogin, c, foreignCountry)
	}
}

func TestWriteLists(t *testing.T) {
	s := generate(t, 1)
	dir := t.TempDir()
	if err := s.WriteLists(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLists(dir); err != nil {
		t.Fatalf("rewriting its own files: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, DevicesFile))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := lists.ParseFile(DevicesFile, b)
	if err != nil {
		t.Fatal(err)
	}
	lost := s.Episodes[0].Expect[0].Group // user.name=U device.id=D
	revoked := 0
	for _, e := range dev.Entries {
		if !e.Expires.IsZero() {
			revoked++
			if want := "user.name=" + e.User + " device.id=" + e.Device; want != lost || !e.Expires.Equal(s.Start) {
				t.Errorf("revoked entry %+v, want the lost phone (%s) revoked at %s", e, lost, s.Start)
			}
		}
	}
	if dev.Name != "devices" || dev.Kind != lists.KindDevice || len(dev.Entries) != len(s.Devices) || revoked != 1 {
		t.Errorf("devices list %s/%s with %d entries (%d revoked), want %d (1 revoked)", dev.Name, dev.Kind, len(dev.Entries), revoked, len(s.Devices))
	}
	b, err = os.ReadFile(filepath.Join(dir, AdminsFile))
	if err != nil {
		t.Fatal(err)
	}
	adm, err := lists.ParseFile(AdminsFile, b)
	if err != nil || adm.Name != "admins" || adm.Kind != lists.KindUser || len(adm.Entries) != 2 {
		t.Fatalf("admins list: %+v, %v", adm, err)
	}

	// A registry the demo did not write stays.
	other := t.TempDir()
	mine := []byte("name: devices\nkind: device\nentries: []\n")
	if err := os.WriteFile(filepath.Join(other, DevicesFile), mine, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLists(other); err == nil || !strings.Contains(err.Error(), "not written by the demo") {
		t.Fatalf("overwriting a real registry: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, DevicesFile)); !bytes.Equal(b, mine) {
		t.Fatal("the real registry changed")
	}
	if _, err := os.Stat(filepath.Join(other, AdminsFile)); err == nil {
		t.Fatal("wrote the admins list after refusing the registry")
	}
}

// fakeClock is a clock whose Sleep moves it.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return nil
}

func TestSend(t *testing.T) {
	s, err := Generate(Options{Seed: 3, End: end, Users: 100})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := s.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: end}
	var got bytes.Buffer
	reports := 0
	n, err := Send(context.Background(), &got, s.Lines, SendOptions{Rate: 5000, Now: clk.Now, Sleep: clk.Sleep,
		Progress: func(int, time.Time) { reports++ }})
	if err != nil || n != len(s.Lines) {
		t.Fatalf("Send = %d, %v; want %d lines", n, err, len(s.Lines))
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("Send wrote other bytes than WriteTo")
	}
	// The rate paces the sender: n lines at 5000/s take n/5000 s (to the
	// last thousand lines, where it checks).
	took := clk.now.Sub(end)
	if min := time.Duration(len(s.Lines)-1000) * time.Second / 5000; took < min || took > min+time.Second {
		t.Errorf("sending %d lines at 5000/s took %s on the clock", len(s.Lines), took)
	}
	if reports < int(took/time.Second)-1 {
		t.Errorf("%d progress reports over %s", reports, took)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Send(ctx, &got, s.Lines, SendOptions{}); err == nil {
		t.Fatal("Send with a cancelled context: no error")
	}
}

func TestCompare(t *testing.T) {
	want := []Alert{{Rule: "a", Group: "user.name=x"}, {Rule: "b", Group: "source.ip=1.2.3.4"}, {Rule: "c", Group: "user.name=y"}}
	got := []StoredAlert{
		{Rule: "a", Group: "user.name=x"},
		{Rule: "a", Group: "user.name=x", FollowUp: "true"},
		{Rule: "c", Group: "user.name=y"}, {Rule: "c", Group: "user.name=y"},
		{Rule: "d", Group: "user.name=z"}, {Rule: "d", Group: "user.name=z"},
	}
	missing, unexpected, extra := Compare(want, got)
	if len(missing) != 1 || missing[0].Rule != "b" {
		t.Errorf("missing %v", missing)
	}
	if len(unexpected) != 1 || unexpected[0].Rule != "d" {
		t.Errorf("unexpected %v", unexpected)
	}
	if len(extra) != 1 || extra[0].Rule != "c" {
		t.Errorf("extra %v", extra)
	}
}
