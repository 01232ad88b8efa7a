package decision

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/lists"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2031, 5, 4, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// allowSet loads allow lists for the policy tests.
func allowSet(t *testing.T) *lists.Set {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"partners.txt": "# role: allow\n198.51.100.7\n203.0.113.128/28\n",
		"svc.txt":      "# kind: user\n# role: allow\n# rules: brute-force-source\nsvc-probe\n",
		"phones.yaml":  "name: vip-phones\nkind: device\nrole: allow\nentries:\n  - user: ceo\n    device: ApplVIP0001\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := lists.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func openStore(t *testing.T, c *clock, p Policy, al *lists.Set, reg prometheus.Registerer) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Policy: p, Allow: al, Now: c.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAddPolicy(t *testing.T) {
	ctx := context.Background()
	on := Policy{Enabled: true}
	tests := []struct {
		name    string
		policy  Policy
		d       Decision
		wantErr error
		want    string // canonical value
		dryRun  bool
	}{
		{"ip", on, Decision{Scope: ScopeIP, Value: "203.0.113.7"}, nil, "203.0.113.7", false},
		{"mapped ip", on, Decision{Scope: ScopeIP, Value: "::ffff:203.0.113.7"}, nil, "203.0.113.7", false},
		{"ipv6", on, Decision{Scope: ScopeIP, Value: "2001:DB8::1"}, nil, "2001:db8::1", false},
		{"range masked", on, Decision{Scope: ScopeRange, Value: "192.0.2.77/24"}, nil, "192.0.2.0/24", false},
		{"range over allow-listed prefix", on, Decision{Scope: ScopeRange, Value: "203.0.113.0/24"}, ErrAllowListed, "", false},
		{"user normalized", on, Decision{Scope: ScopeUser, Value: `CORP\ZhangWei`}, nil, "zhangwei", false},
		{"user upn", on, Decision{Scope: ScopeUser, Value: "ZhangWei@corp.example"}, nil, "zhangwei", false},
		{"device keeps case", on, Decision{Scope: ScopeDevice, Value: " ApplF17XYZ "}, nil, "ApplF17XYZ", false},
		{"scope any case", on, Decision{Scope: "Ip", Value: "203.0.113.8"}, nil, "203.0.113.8", false},
		{"bad scope", on, Decision{Scope: "country", Value: "XX"}, ErrInvalid, "", false},
		{"bad type", on, Decision{Scope: ScopeIP, Value: "203.0.113.7", Type: "nuke"}, ErrInvalid, "", false},
		{"bad ip", on, Decision{Scope: ScopeIP, Value: "203.0.113.300"}, ErrInvalid, "", false},
		{"empty value", on, Decision{Scope: ScopeUser, Value: "  "}, ErrInvalid, "", false},
		{"range too wide", on, Decision{Scope: ScopeRange, Value: "8.0.0.0/7"}, ErrInvalid, "", false},
		{"v6 range too wide", on, Decision{Scope: ScopeRange, Value: "2001::/16"}, ErrInvalid, "", false},
		{"device with space", on, Decision{Scope: ScopeDevice, Value: "a b"}, ErrInvalid, "", false},
		{"private", on, Decision{Scope: ScopeIP, Value: "10.1.2.3"}, ErrPrivate, "", false},
		{"loopback", on, Decision{Scope: ScopeIP, Value: "127.0.0.1"}, ErrPrivate, "", false},
		{"loopback v6", on, Decision{Scope: ScopeIP, Value: "::1"}, ErrPrivate, "", false},
		{"link local", on, Decision{Scope: ScopeIP, Value: "169.254.1.1"}, ErrPrivate, "", false},
		{"ula", on, Decision{Scope: ScopeIP, Value: "fd00::5"}, ErrPrivate, "", false},
		{"range over private", on, Decision{Scope: ScopeRange, Value: "10.0.0.0/8"}, ErrPrivate, "", false},
		{"range containing private", on, Decision{Scope: ScopeRange, Value: "172.0.0.0/8"}, ErrPrivate, "", false},
		{"private allowed", Policy{Enabled: true, AllowPrivate: true}, Decision{Scope: ScopeIP, Value: "10.1.2.3"}, nil, "10.1.2.3", false},
		{"own network", Policy{Enabled: true, OwnNetworks: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}},
			Decision{Scope: ScopeIP, Value: "198.19.4.4"}, ErrOwnNetwork, "", false},
		{"range over own network", Policy{Enabled: true, OwnNetworks: []netip.Prefix{netip.MustParsePrefix("198.18.4.0/24")}},
			Decision{Scope: ScopeRange, Value: "198.18.0.0/16"}, ErrOwnNetwork, "", false},
		{"own network wins over allow_private", Policy{Enabled: true, AllowPrivate: true, OwnNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			Decision{Scope: ScopeIP, Value: "10.1.2.3"}, ErrOwnNetwork, "", false},
		{"allow-listed ip", on, Decision{Scope: ScopeIP, Value: "198.51.100.7"}, ErrAllowListed, "", false},
		{"allow-listed prefix", on, Decision{Scope: ScopeIP, Value: "203.0.113.130"}, ErrAllowListed, "", false},
		{"range over allow-listed", on, Decision{Scope: ScopeRange, Value: "198.51.100.0/24"}, ErrAllowListed, "", false},
		{"range beside allow-listed", on, Decision{Scope: ScopeRange, Value: "198.51.101.0/24"}, nil, "198.51.101.0/24", false},
		{"user allow-listed for its rule", on, Decision{Scope: ScopeUser, Value: "svc-probe", Origin: "rule:brute-force-source"}, ErrAllowListed, "", false},
		{"user list of another rule", on, Decision{Scope: ScopeUser, Value: "svc-probe", Origin: "rule:password-spraying"}, nil, "svc-probe", false},
		{"user list restricted to rules, operator", on, Decision{Scope: ScopeUser, Value: "svc-probe", Origin: "operator:ann"}, nil, "svc-probe", false},
		{"allow-listed device any case", on, Decision{Scope: ScopeDevice, Value: "applvip0001"}, ErrAllowListed, "", false},
		{"disabled: rule is dry run", Policy{}, Decision{Scope: ScopeIP, Value: "203.0.113.9", Origin: "rule:brute-force-source"}, nil, "203.0.113.9", true},
		{"disabled: operator enforced", Policy{}, Decision{Scope: ScopeIP, Value: "203.0.113.9"}, nil, "203.0.113.9", false},
		{"dry run: operator too", Policy{Enabled: true, DryRun: true}, Decision{Scope: ScopeIP, Value: "203.0.113.9"}, nil, "203.0.113.9", true},
		{"dry run still refuses private", Policy{DryRun: true}, Decision{Scope: ScopeIP, Value: "192.168.1.1"}, ErrPrivate, "", false},
		{"no origin", on, Decision{Scope: ScopeIP, Value: "203.0.113.9", Origin: "-"}, nil, "203.0.113.9", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			s := openStore(t, c, tc.policy, allowSet(t), nil)
			d := tc.d
			if d.Origin == "" {
				d.Origin = "operator:ann"
			}
			d.Until = c.Now().Add(time.Hour)
			got, err := s.Add(ctx, d)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Add = %v, want %v", err, tc.wantErr)
				}
				if n := len(s.List(Filter{States: []State{StateActive, StateDryRun, StateExpired, StateDeleted}})); n != 0 {
					t.Errorf("refused decision recorded: %d held", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if got.Value != tc.want || got.DryRun != tc.dryRun || got.ID != 1 || !got.Created.Equal(c.Now()) || got.Type != TypeBan {
				t.Errorf("Add = %+v, want value %q dry run %v id 1 created now type ban", got, tc.want, tc.dryRun)
			}
		})
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		ErrAllowListed: "allow_listed", ErrOwnNetwork: "own_network", ErrPrivate: "private",
		ErrCapReached: "cap", ErrInvalid: "invalid", errors.New("x"): "error",
	} {
		if got := Reason(errors.Join(errors.New("ctx"), err)); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestExpiryAndCheck(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openStore(t, c, Policy{Enabled: true}, nil, nil)
	add := func(scope Scope, value string, typ Type, dur time.Duration) Decision {
		t.Helper()
		d, err := s.Add(ctx, Decision{Scope: scope, Value: value, Type: typ, Origin: "operator:ann", Until: c.Now().Add(dur)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ipBan := add(ScopeIP, "203.0.113.7", TypeBan, time.Hour)
	rng := add(ScopeRange, "198.51.100.0/24", TypeCaptcha, 2*time.Hour)
	rngBan := add(ScopeRange, "198.51.100.0/28", TypeBan, 30*time.Minute)
	user := add(ScopeUser, "Mallory", TypeBan, time.Hour)
	dev := add(ScopeDevice, "ApplLOST123", TypeBan, 3*time.Hour)

	addr := netip.MustParseAddr
	tests := []struct {
		name   string
		after  time.Duration // from the start
		ip     netip.Addr
		user   string
		device string
		want   int64 // 0: no match
	}{
		{"ip", 0, addr("203.0.113.7"), "", "", ipBan.ID},
		{"mapped ip", 0, addr("::ffff:203.0.113.7"), "", "", ipBan.ID},
		{"other ip", 0, addr("203.0.113.8"), "", "", 0},
		{"range captcha", 0, addr("198.51.100.200"), "", "", rng.ID},
		{"ban beats captcha", 0, addr("198.51.100.3"), "", "", rngBan.ID},
		{"user any form", 0, netip.Addr{}, `CORP\MALLORY`, "", user.ID},
		{"device any case", 0, netip.Addr{}, "", "appllost123", dev.ID},
		{"nothing", 0, netip.Addr{}, "", "", 0},
		{"ban expired, captcha left", 45 * time.Minute, addr("198.51.100.3"), "", "", rng.ID},
		{"ip expired", time.Hour, addr("203.0.113.7"), "", "", 0},
		{"device until 3h", 3*time.Hour - time.Second, addr("192.0.2.1"), "bob", "ApplLOST123", dev.ID},
		{"all expired", 3 * time.Hour, addr("198.51.100.3"), "mallory", "ApplLOST123", 0},
	}
	start := c.Now()
	for _, tc := range tests {
		got, ok := s.Check(start.Add(tc.after), tc.ip, tc.user, tc.device)
		if ok != (tc.want != 0) || got.ID != tc.want {
			t.Errorf("%s: Check = %d %v, want %d", tc.name, got.ID, ok, tc.want)
		}
	}
	if n := len(s.Active(start.Add(45 * time.Minute))); n != 4 {
		t.Errorf("Active after 45m = %d, want 4", n)
	}
	if n := len(s.Active(start.Add(3 * time.Hour))); n != 0 {
		t.Errorf("Active after 3h = %d, want 0", n)
	}
}

func TestDeleteAndChanges(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openStore(t, c, Policy{Enabled: false}, nil, nil)
	mk := func(v, origin string) Decision {
		d, err := s.Add(ctx, Decision{Scope: ScopeIP, Value: v, Origin: origin, Until: c.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := mk("203.0.113.1", "operator:ann")
	dry := mk("203.0.113.2", "rule:brute-force-source") // enforcement off: dry run
	b := mk("203.0.113.3", "operator:ann")
	if !dry.DryRun {
		t.Fatalf("rule decision not dry run with enforcement off: %+v", dry)
	}
	added, deleted, cur := s.Changes(0)
	if ids(added) != "1,3" || len(deleted) != 0 || cur != 3 {
		t.Fatalf("Changes(0) = %s / %s / %d, want 1,3 / - / 3", ids(added), ids(deleted), cur)
	}
	if added, deleted, cur2 := s.Changes(cur); len(added)+len(deleted) != 0 || cur2 != cur {
		t.Fatalf("Changes(cur) = %v %v %d, want nothing", added, deleted, cur2)
	}
	c.Advance(time.Minute)
	if err := s.Delete(ctx, a.ID, "operator:bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a.ID, "operator:bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, 99, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(99) = %v, want ErrNotFound", err)
	}
	c2 := mk("203.0.113.4", "operator:ann")
	added, deleted, cur3 := s.Changes(cur)
	if ids(added) != ids([]Decision{c2}) || ids(deleted) != "1" || cur3 != 5 {
		t.Fatalf("Changes(%d) = %s / %s / %d, want 4 / 1 / 5", cur, ids(added), ids(deleted), cur3)
	}
	if deleted[0].Deleted.IsZero() || deleted[0].DeletedBy != "operator:bob" {
		t.Errorf("deleted = %+v, want Deleted and DeletedBy set", deleted[0])
	}
	if _, ok := s.Check(c.Now(), netip.MustParseAddr("203.0.113.1"), "", ""); ok {
		t.Error("deleted decision still matches")
	}
	if _, ok := s.Check(c.Now(), netip.MustParseAddr("203.0.113.2"), "", ""); ok {
		t.Error("dry-run decision matches")
	}
	if _, ok := s.Check(c.Now(), netip.MustParseAddr("203.0.113.3"), "", ""); !ok {
		t.Errorf("decision %d does not match", b.ID)
	}
	// IDs are never reused.
	if c2.ID != 4 {
		t.Errorf("new ID = %d, want 4", c2.ID)
	}
	if got, ok := s.Get(a.ID); !ok || got.State(c.Now()) != StateDeleted {
		t.Errorf("Get(deleted) = %+v %v", got, ok)
	}
}

func ids(ds []Decision) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(d.ID, 10))
	}
	return b.String()
}

func TestDuplicateAndCap(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	reg := prometheus.NewPedanticRegistry()
	s := openStore(t, c, Policy{Enabled: true, MaxActiveBans: 2}, nil, reg)
	add := func(v string, dur time.Duration, dry bool) (Decision, error) {
		return s.Add(ctx, Decision{Scope: ScopeIP, Value: v, Origin: "rule:x", Until: c.Now().Add(dur), DryRun: dry})
	}
	first, err := add("203.0.113.1", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := add("203.0.113.1", 30*time.Minute, false)
	if err != nil || again.ID != first.ID {
		t.Fatalf("shorter duplicate = %+v, %v; want the first one back", again, err)
	}
	longer, err := add("203.0.113.1", 2*time.Hour, false)
	if err != nil || longer.ID == first.ID {
		t.Fatalf("longer duplicate = %+v, %v; want a new decision", longer, err)
	}
	if _, err := add("203.0.113.2", time.Hour, false); !errors.Is(err, ErrCapReached) {
		t.Fatalf("third active = %v, want ErrCapReached", err)
	}
	if d, err := add("203.0.113.2", time.Hour, true); err != nil || !d.DryRun {
		t.Fatalf("dry run beyond the cap = %+v, %v; want recorded", d, err)
	}
	c.Advance(time.Hour) // the first expires
	if _, err := add("203.0.113.2", time.Hour, false); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := testutil.ToFloat64(s.m.active); got != 2 {
		t.Errorf("vigil_decisions_active = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.m.added.WithLabelValues("rule")); got != 4 {
		t.Errorf("added{rule} = %v, want 4", got)
	}
	for reason, want := range map[string]float64{"duplicate": 1, "cap": 1} {
		if got := testutil.ToFloat64(s.m.refused.WithLabelValues(reason)); got != want {
			t.Errorf("refused{%s} = %v, want %v", reason, got, want)
		}
	}
	if _, err := testutil.GatherAndCount(reg); err != nil {
		t.Errorf("gather: %v", err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openStore(t, c, Policy{Enabled: true}, nil, nil)
	base := Decision{Scope: ScopeIP, Value: "203.0.113.1", Origin: "operator:ann", Until: c.Now().Add(time.Hour)}
	tests := []struct {
		name string
		edit func(*Decision)
	}{
		{"expired", func(d *Decision) { d.Until = c.Now() }},
		{"no expiry", func(d *Decision) { d.Until = time.Time{} }},
		{"no origin", func(d *Decision) { d.Origin = "" }},
		{"long reason", func(d *Decision) { d.Reason = strings.Repeat("x", maxReasonLen+1) }},
		{"bad utf-8", func(d *Decision) { d.Reason = "\xff" }},
		{"long value", func(d *Decision) { d.Scope, d.Value = ScopeUser, strings.Repeat("u", maxValueLen+1) }},
	}
	for _, tc := range tests {
		d := base
		tc.edit(&d)
		if _, err := s.Add(ctx, d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Add = %v, want ErrInvalid", tc.name, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Add(cctx, base); !errors.Is(err, context.Canceled) {
		t.Errorf("Add with canceled ctx = %v", err)
	}
	s.Close()
	if _, err := s.Add(ctx, base); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openStore(t, c, Policy{Enabled: true}, nil, nil)
	for _, d := range []Decision{
		{Scope: ScopeIP, Value: "203.0.113.1", Origin: "rule:brute-force-source"},
		{Scope: ScopeRange, Value: "203.0.113.0/24", Origin: "operator:ann"},
		{Scope: ScopeUser, Value: "mallory", Origin: "operator:ann"},
		{Scope: ScopeDevice, Value: "ApplX", Origin: "rule:activesync-unregistered-device", DryRun: true},
		{Scope: ScopeIP, Value: "203.0.113.9", Origin: "operator:bob"},
	} {
		d.Until = c.Now().Add(time.Hour)
		if _, err := s.Add(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, 5, "operator:ann"); err != nil {
		t.Fatal(err)
	}
	all := []State{StateActive, StateDryRun, StateExpired, StateDeleted}
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"default", Filter{}, "4,3,2,1"},
		{"all states", Filter{States: all}, "5,4,3,2,1"},
		{"deleted", Filter{States: []State{StateDeleted}}, "5"},
		{"active only", Filter{States: []State{StateActive}}, "3,2,1"},
		{"dry run", Filter{States: []State{StateDryRun}}, "4"},
		{"scope", Filter{Scope: ScopeIP, States: all}, "5,1"},
		{"value normalized", Filter{Scope: ScopeUser, Value: "CORP\\Mallory"}, "3"},
		{"device any case", Filter{Scope: ScopeDevice, Value: "applx"}, "4"},
		{"ip covers", Filter{IP: netip.MustParseAddr("203.0.113.1")}, "2,1"},
		{"origin prefix", Filter{Origin: "rule:"}, "4,1"},
		{"origin exact", Filter{Origin: "operator:ann"}, "3,2"},
		{"limit", Filter{Limit: 2}, "4,3"},
		{"expired later", Filter{Now: c.Now().Add(time.Hour), States: []State{StateExpired}}, "4,3,2,1"},
	}
	for _, tc := range tests {
		if got := ids(s.List(tc.f)); got != tc.want {
			t.Errorf("%s: List = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openStore(t, c, Policy{Enabled: true}, nil, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				a := netip.AddrFrom4([4]byte{203, 0, byte(113 + g), byte(i)})
				d, err := s.Add(ctx, Decision{Scope: ScopeIP, Value: a.String(), Origin: "operator:x", Until: c.Now().Add(time.Hour)})
				if err != nil {
					t.Error(err)
					return
				}
				s.Check(c.Now(), a, "u", "d")
				s.Changes(0)
				if i%2 == 0 {
					if err := s.Delete(ctx, d.ID, "x"); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := len(s.Active(c.Now())); n != 100 {
		t.Errorf("active = %d, want 100", n)
	}
}
