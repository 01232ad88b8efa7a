package lists

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testNow is the fixed time of most tests.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() Option { return WithClock(func() time.Time { return testNow }) }

// copyDir copies the files of testdata/src into a temporary folder.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(filepath.Join("testdata", src))
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		data, err := os.ReadFile(filepath.Join("testdata", src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// writeFile replaces a file and moves its modification time forward, so
// that a change is seen even on file systems with coarse time stamps.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	var mt time.Time
	if fi, err := os.Stat(path); err == nil {
		mt = fi.ModTime()
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mt.IsZero() {
		if err := os.Chtimes(path, mt.Add(2*time.Second), mt.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

func loadSet(t *testing.T, dir string, opts ...Option) *Set {
	t.Helper()
	s, err := Load(dir, append([]Option{fixedClock()}, opts...)...)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return s
}

func TestLookups(t *testing.T) {
	s := loadSet(t, filepath.Join("testdata", "set"))
	tests := []struct {
		list, value string
		want        bool
	}{
		// ip list from text, explicit kind: v4, v6, CIDR-aware.
		{"vpn-exits", "198.51.100.1", true},
		{"vpn-exits", "198.51.100.255", true},
		{"vpn-exits", "198.51.101.0", false},
		{"vpn-exits", "203.0.113.7", true},
		{"vpn-exits", "203.0.113.8", false},
		{"vpn-exits", "2001:db8:100:ffff::1", true},
		{"vpn-exits", "2001:DB8:100::", true},
		{"vpn-exits", "2001:db8:101::1", false},
		{"vpn-exits", "::ffff:198.51.100.9", true}, // IPv4-mapped
		{"vpn-exits", "not an ip", false},
		{"vpn-exits", "", false},
		// ip list, kind inferred; mapped entry normalized to IPv4.
		{"scanners", "192.0.2.127", true},
		{"scanners", "192.0.2.128", false},
		{"scanners", "192.0.2.200", true},
		{"scanners", "2001:db8:bad::1", true},
		{"scanners", "2001:db8:bad::2", false},
		{"scanners", "100.100.100.100", true},
		{"scanners", "fe80::1%eth0", false},
		// user list, kind inferred, case-insensitive.
		{"vips", "alice", true},
		{"vips", "ALICE", true},
		{"vips", "bob.smith", true},
		{"vips", "contoso\\SVC-BACKUP", true},
		{"vips", "x#y", true},
		{"vips", "x", false},
		{"vips", "mallory", false},
		// user list from YAML with expiry.
		{"brute-force-exempt", "pentest-user", false}, // expired 2020
		{"brute-force-exempt", "monitoring", true},
		{"brute-force-exempt", "SVC-Scanner", true},
		// nested prefixes with expiry.
		{"tor-exits", "10.200.0.1", true},
		{"tor-exits", "10.1.2.3", true},              // expired /16 inside a live /8
		{"tor-exits", "172.16.5.1", false},           // expired /24
		{"tor-exits", "172.16.5.200", true},          // live /25 inside the expired /24
		{"tor-exits", "172.16.6.1", false},           // outside
		{"tor-exits", "2001:db8:dead:beef::1", true}, // expired /64 inside live /48
		{"tor-exits", "2001:db9::1", false},          // expired ::/0
		// device list via Contains.
		{"devices", "alice/applf17abcdef12", true},
		{"devices", "ALICE ApplF17ABCDEF12", true},
		{"devices", "bob.smith/ANDROIDC1234567890", true},
		{"devices", "carol/WP8DEVICE01", false}, // expired
		{"devices", "dave/SEC1A2B3C4D5", true},
		{"devices", "alice/other", false},
		{"devices", "alice", false},
		// unknown list.
		{"nope", "alice", false},
	}
	for _, tt := range tests {
		if got := s.Contains(tt.list, tt.value); got != tt.want {
			t.Errorf("Contains(%q, %q) = %v, want %v", tt.list, tt.value, got, tt.want)
		}
		if a, err := netip.ParseAddr(tt.value); err == nil {
			if got := s.ContainsIP(tt.list, a); got != tt.want {
				t.Errorf("ContainsIP(%q, %s) = %v, want %v", tt.list, a, got, tt.want)
			}
		}
	}
	if s.ContainsIP("vips", netip.MustParseAddr("10.0.0.1")) {
		t.Error("ContainsIP on a user list")
	}
	if s.ContainsIP("vpn-exits", netip.Addr{}) {
		t.Error("ContainsIP(invalid)")
	}
}

func TestDevice(t *testing.T) {
	s := loadSet(t, filepath.Join("testdata", "set"))
	tests := []struct {
		user, id  string
		want      bool
		owner     string
		wantValue string
	}{
		{"alice", "ApplF17ABCDEF12", true, "alice", "alice/ApplF17ABCDEF12"},
		{"Alice", "applf17abcdef12", true, "alice", "alice/ApplF17ABCDEF12"},
		{"bob.smith", "androidc1234567890", true, "helpdesk", "Bob.Smith/androidc1234567890"},
		{"carol", "WP8DEVICE01", false, "", ""}, // expired
		{"alice", "androidc1234567890", false, "", ""},
		{"", "ApplF17ABCDEF12", false, "", ""},
		{"alice", "", false, "", ""},
	}
	for _, tt := range tests {
		e, ok := s.Device(tt.user, tt.id)
		if ok != tt.want || e.Owner != tt.owner || e.Value != tt.wantValue {
			t.Errorf("Device(%q, %q) = %+v, %v; want owner %q value %q, %v", tt.user, tt.id, e, ok, tt.owner, tt.wantValue, tt.want)
		}
	}
	e, _ := s.Device("alice", "ApplF17ABCDEF12")
	if e.Note != "iPhone 15" || !e.Added.Equal(time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("alice's device = %+v", e)
	}
}

func TestActiveDevices(t *testing.T) {
	s := loadSet(t, filepath.Join("testdata", "set"))
	var got []string
	for _, e := range s.ActiveDevices() {
		got = append(got, e.User+"/"+e.Device)
	}
	// carol's WP8DEVICE01 expired; dave's expires in 2999.
	want := []string{"alice/ApplF17ABCDEF12", "Bob.Smith/androidc1234567890", "dave/SEC1A2B3C4D5"}
	if !slices.Equal(got, want) {
		t.Errorf("ActiveDevices = %q, want %q", got, want)
	}
	var nilSet *Set
	if nilSet.ActiveDevices() != nil {
		t.Error("nil Set has devices")
	}
}

func TestMatch(t *testing.T) {
	s := loadSet(t, filepath.Join("testdata", "set"))
	tests := []struct {
		name                           string
		rule                           string
		role                           Role
		ip, user, deviceUser, deviceID string
		wantList                       string
	}{
		{"vpn allowed for its rule", "impossible-travel", RoleAllow, "198.51.100.4", "zed", "", "", "vpn-exits"},
		{"vpn not for other rules", "brute-force", RoleAllow, "198.51.100.4", "zed", "", "", ""},
		{"user allowed for its rule", "brute-force", RoleAllow, "10.9.9.9", "Monitoring", "", "", "brute-force-exempt"},
		{"user allowed, other rule", "impossible-travel", RoleAllow, "10.9.9.9", "monitoring", "", "", ""},
		{"expired user", "brute-force", RoleAllow, "", "pentest-user", "", "", ""},
		{"block ip any rule", "whatever", RoleBlock, "192.0.2.5", "", "", "", "scanners"},
		{"block first by name", "whatever", RoleBlock, "10.0.0.1", "", "", "", "tor-exits"},
		{"block v6", "x", RoleBlock, "2001:db8:dead::9", "", "", "", "tor-exits"},
		{"not blocked", "x", RoleBlock, "8.8.8.8", "alice", "alice", "ApplF17ABCDEF12", ""},
		{"bad ip", "x", RoleBlock, "garbage", "", "", "", ""},
		{"plain device", "x", RolePlain, "", "", "ALICE", "applf17abcdef12", "devices"},
		{"plain user", "x", RolePlain, "", "bob.smith", "", "", "vips"},
		{"plain nothing", "x", RolePlain, "198.51.100.4", "", "", "", ""},
		{"unknown role", "x", Role("other"), "192.0.2.5", "alice", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.Match(tt.rule, tt.role, tt.ip, tt.user, tt.deviceUser, tt.deviceID)
			if got != tt.wantList || ok != (tt.wantList != "") {
				t.Fatalf("Match = %q, %v; want %q", got, ok, tt.wantList)
			}
		})
	}
}

func TestListsInfo(t *testing.T) {
	s := loadSet(t, filepath.Join("testdata", "set"))
	got := s.Lists()
	want := []ListInfo{
		{Name: "brute-force-exempt", Kind: KindUser, Role: RoleAllow, Rules: []string{"brute-force", "password-spray"}, File: "admins.yml", Entries: 3, Active: 2},
		{Name: "devices", Kind: KindDevice, Role: RolePlain, Description: "Registered ActiveSync devices", File: "devices.yaml", Entries: 4, Active: 3},
		{Name: "scanners", Kind: KindIP, Role: RoleBlock, File: "scanners.txt", Entries: 4, Active: 4},
		{Name: "tor-exits", Kind: KindIP, Role: RoleBlock, File: "tor.yaml", Entries: 7, Active: 3},
		{Name: "vips", Kind: KindUser, Role: RolePlain, File: "vips.txt", Entries: 4, Active: 4},
		{Name: "vpn-exits", Kind: KindIP, Role: RoleAllow, Rules: []string{"impossible-travel", "new-country"}, File: "vpn-exits.txt", Entries: 3, Active: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("Lists() = %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Kind != w.Kind || g.Role != w.Role || !slices.Equal(g.Rules, w.Rules) ||
			g.File != w.File || g.Entries != w.Entries || g.Active != w.Active || g.Description != w.Description || g.Error != "" {
			t.Errorf("list %d = %+v\nwant %+v", i, g, w)
		}
	}
	for _, n := range []string{"vips", "devices", "tor-exits"} {
		if !s.HasList(n) {
			t.Errorf("HasList(%q) = false", n)
		}
	}
	if s.HasList("README") || s.HasList(".hidden") || s.HasList("hidden") {
		t.Error("a non-list file became a list")
	}
	if k, ok := s.Kind("devices"); !ok || k != KindDevice {
		t.Errorf("Kind(devices) = %v, %v", k, ok)
	}
	es, ok := s.Entries("vips")
	if !ok || len(es) != 4 || es[1].Value != "Bob.Smith" || es[1].Note != "CEO" || es[2].Value != `CONTOSO\svc-backup` {
		t.Errorf("Entries(vips) = %+v", es)
	}
	es[0].Value = "changed" // a copy
	if !s.Contains("vips", "alice") {
		t.Error("Entries returned the list's own slice")
	}
	st := s.Status()
	if len(st.Files) != 6 || st.Reloads != 1 || st.ReloadErrors != 0 || st.DirError != "" {
		t.Errorf("Status = %+v", st)
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		file string
		line int
		want string
	}{
		{"bad-cidr.txt", 3, `bad CIDR "10.0.0.0/33"`},
		{"bad-ip-inferred.txt", 3, `user name "alice bob" contains white space`},
		{"unknown-kind.yaml", 2, `unknown kind "hosts"`},
		{"unknown-kind.txt", 1, `unknown kind "hosts"`},
		{"unknown-role.txt", 1, `unknown role "deny"`},
		{"unknown-key.yaml", 4, `unknown key "expiry"`},
		{"bad-time.yaml", 5, `bad time "next tuesday"`},
		{"bad-device.txt", 3, `bad device "bob"`},
		{"bad-name.yaml", 1, `invalid list name "has space"`},
		{"two-docs.yaml", 0, "more than one YAML document"},
		{"not-a-map.yaml", 1, "want a mapping"},
		{"bad-cidr.yaml", 5, `bad IP address "300.1.2.3"`},
		{"alias.yaml", 3, "aliases are not supported"},
		{"invalid-yaml.yaml", 0, "invalid YAML"},
		{"value-and-user.yaml", 4, "either value or user and device"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "bad", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseFile(tt.file, data)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseFile = %v, want a *ParseError", err)
			}
			if pe.File != tt.file || (tt.line > 0 && pe.Line != tt.line) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (line %d), want line %d and %q", err, pe.Line, tt.line, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "lists: "+tt.file) {
				t.Fatalf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		file, data string
		kind       Kind
		role       Role
		rules      []string
		values     []string
	}{
		{"a.txt", "", KindUser, RolePlain, nil, nil},
		{"a.yaml", "", KindUser, RolePlain, nil, nil},
		{"a.yaml", "# only a comment\n", KindUser, RolePlain, nil, nil},
		{"a.txt", "\xef\xbb\xbf10.0.0.1\r\n10.0.0.0/8\r\n", KindIP, RolePlain, nil, []string{"10.0.0.1", "10.0.0.0/8"}},
		{"a.txt", "# Kind: IP\n# ROLE: Block\n10.1.2.3/8 # masked\n::ffff:1.2.3.0/120\nfe80::1%eth0\n", KindIP, RoleBlock, nil, []string{"10.0.0.0/8", "1.2.3.0/24", "fe80::1"}},
		{"a.txt", "alice\nALICE # later wins\n", KindUser, RolePlain, nil, []string{"ALICE"}},
		{"a.txt", "# kind: device\n# rules: r1 r2,r3\nalice/ApplX\nbob  AndroidY # phone\n", KindDevice, RolePlain, []string{"r1", "r2", "r3"}, []string{"alice/ApplX", "bob/AndroidY"}},
		{"a.txt", "10.0.0.1\n# kind: user\n", KindIP, RolePlain, nil, []string{"10.0.0.1"}}, // directive after entries: a comment
		{"a.yml", "kind: ip\nrules: one\nentries:\n", KindIP, RolePlain, []string{"one"}, nil},
		{"a.yaml", "entries:\n  - user: a\n    device: B\n", KindDevice, RolePlain, nil, []string{"a/B"}},
		{"a.yaml", "entries: [1.2.3.4, 2001:db8::/32]\n", KindIP, RolePlain, nil, []string{"1.2.3.4", "2001:db8::/32"}},
		{"a.yaml", "entries: [1.2.3.4, bob]\n", KindUser, RolePlain, nil, []string{"1.2.3.4", "bob"}},
		{"a.yaml", "kind: user\nentries:\n  - value: John Smith\n", KindUser, RolePlain, nil, []string{"John Smith"}},
	}
	for _, tt := range tests {
		l, err := ParseFile(tt.file, []byte(tt.data))
		if err != nil {
			t.Errorf("ParseFile(%q): %v", tt.data, err)
			continue
		}
		var values []string
		for _, e := range l.Entries {
			values = append(values, e.Value)
		}
		if l.Name != "a" || l.Kind != tt.kind || l.Role != tt.role || !slices.Equal(l.Rules, tt.rules) || !slices.Equal(values, tt.values) {
			t.Errorf("ParseFile(%q) = %+v, values %q", tt.data, l, values)
		}
	}
	if _, err := ParseFile("a.csv", nil); err == nil {
		t.Error("ParseFile(a.csv): no error")
	}
	if _, err := ParseFile("bad name.txt", nil); err == nil {
		t.Error("ParseFile(bad name.txt): no error")
	}
	// Expiry dates mean the end of the day.
	l, err := ParseFile("d.yaml", []byte("entries:\n  - value: a\n    expires: 2026-06-30\n    added: 2026-06-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e := l.Entries[0]; !e.Expires.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) || !e.Added.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("times = %v, %v", e.Added, e.Expires)
	}
}

func TestBrokenFileKeepsPrevious(t *testing.T) {
	dir := copyDir(t, "set")
	reg := prometheus.NewRegistry()
	s := loadSet(t, dir, WithRegisterer(reg))
	vips := filepath.Join(dir, "vips.txt")
	vpn := filepath.Join(dir, "vpn-exits.txt")

	// Break one text list (whose kind becomes something else) and one
	// explicit-kind list.
	writeFile(t, vips, "# kind: user\nalice\nbob smith\n")
	writeFile(t, vpn, "# kind: ip\n10.0.0.0/8\n10.0.0.0/33\n")
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "vips.txt:3") || !strings.Contains(err.Error(), "vpn-exits.txt:3: bad CIDR") {
		t.Fatalf("Reload = %v", err)
	}
	// The previous versions stay in service.
	if !s.Contains("vips", "bob.smith") || !s.Contains("vpn-exits", "198.51.100.1") || s.Contains("vpn-exits", "10.0.0.1") {
		t.Fatal("previous versions not kept")
	}
	info := map[string]ListInfo{}
	for _, li := range s.Lists() {
		info[li.Name] = li
	}
	if !strings.Contains(info["vips"].Error, "white space") || info["scanners"].Error != "" {
		t.Fatalf("Lists errors: %+v", info)
	}
	if got := testutil.ToFloat64(s.m.reloadErrors); got != 2 {
		t.Fatalf("reload errors = %v, want 2", got)
	}
	// Reloading again without changes does not count them again.
	if err := s.Reload(); err == nil {
		t.Fatal("Reload: the broken files are no longer reported")
	}
	if got := testutil.ToFloat64(s.m.reloadErrors); got != 2 {
		t.Fatalf("reload errors = %v after a no-op reload, want 2", got)
	}
	// A broken new file does not create a list.
	writeFile(t, filepath.Join(dir, "new.txt"), "# kind: ip\nnope\n")
	if err := s.Reload(); err == nil || s.HasList("new") {
		t.Fatalf("broken new file: %v, HasList %v", err, s.HasList("new"))
	}
	// Fixing the files brings the new versions.
	writeFile(t, vips, "# kind: user\nalice\ncarol\n")
	writeFile(t, vpn, "# kind: ip\n10.0.0.0/8\n")
	os.Remove(filepath.Join(dir, "new.txt"))
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload after fix: %v", err)
	}
	if s.Contains("vips", "bob.smith") || !s.Contains("vips", "carol") || !s.Contains("vpn-exits", "10.0.0.1") {
		t.Fatal("fixed versions not loaded")
	}
	st := s.Status()
	for _, f := range st.Files {
		if f.Error != "" {
			t.Errorf("file %s still has error %s", f.File, f.Error)
		}
	}
	if st.ReloadErrors != 3 {
		t.Errorf("Status.ReloadErrors = %d, want 3", st.ReloadErrors)
	}
	if n := testutil.ToFloat64(s.m.entries.WithLabelValues("vips")); n != 2 {
		t.Errorf("vigil_lists_entries{list=vips} = %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "vigil_lists_entries", "vigil_lists_reloads_total", "vigil_lists_reload_errors_total"); err != nil || n != 8 {
		t.Errorf("metrics: %d series, %v", n, err)
	}
}

func TestLoadPartial(t *testing.T) {
	dir := copyDir(t, "set")
	writeFile(t, filepath.Join(dir, "zz-broken.yaml"), "name: x\nkind: nope\n")
	s, err := Load(dir, fixedClock())
	if s == nil || err == nil || !strings.Contains(err.Error(), "zz-broken.yaml:2") {
		t.Fatalf("Load = %v, %v", s, err)
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != "zz-broken.yaml" {
		t.Fatalf("error %v is not a *ParseError", err)
	}
	if !s.Contains("vips", "alice") {
		t.Fatal("good lists not loaded")
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Load(missing folder): no error")
	}
}

func TestDuplicateNames(t *testing.T) {
	dir := copyDir(t, "set")
	// b-vips.yaml names its list "vips" like vips.txt; the file sorted
	// first (b-vips.yaml) wins.
	writeFile(t, filepath.Join(dir, "b-vips.yaml"), "name: vips\nkind: user\nentries: [zed]\n")
	s, err := Load(dir, fixedClock())
	if err == nil || !strings.Contains(err.Error(), `vips.txt: duplicate list name "vips" (already defined in b-vips.yaml)`) {
		t.Fatalf("Load = %v", err)
	}
	if !s.Contains("vips", "zed") || s.Contains("vips", "alice") {
		t.Fatal("wrong file won")
	}
	// Renaming the list in the first file lets the second in.
	writeFile(t, filepath.Join(dir, "b-vips.yaml"), "name: vips2\nkind: user\nentries: [zed]\n")
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !s.Contains("vips", "alice") || !s.Contains("vips2", "zed") {
		t.Fatal("lists not both loaded after rename")
	}
}

func TestReloadAfterEdit(t *testing.T) {
	dir := copyDir(t, "set")
	s := loadSet(t, dir)
	if !s.Contains("scanners", "192.0.2.1") {
		t.Fatal("setup")
	}
	writeFile(t, filepath.Join(dir, "scanners.txt"), "# role: block\n203.0.113.0/24\n")
	writeFile(t, filepath.Join(dir, "extra.txt"), "eve\n")
	if err := os.Remove(filepath.Join(dir, "tor.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Contains("scanners", "192.0.2.1") || !s.Contains("scanners", "203.0.113.50") {
		t.Error("edit not loaded")
	}
	if !s.Contains("extra", "EVE") {
		t.Error("new file not loaded")
	}
	if s.HasList("tor-exits") {
		t.Error("removed file's list still there")
	}
	if _, ok := s.Match("r", RoleBlock, "10.0.0.1", "", "", ""); ok {
		t.Error("removed list still matches")
	}
	// An editor that writes a new file with the same size and time stamp
	// (rename over the old one) is seen through the inode.
	path := filepath.Join(dir, "extra.txt")
	fi, _ := os.Stat(path)
	tmp := filepath.Join(dir, ".extra.tmp")
	if err := os.WriteFile(tmp, []byte("bob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Contains("extra", "eve") || !s.Contains("extra", "bob") {
		t.Error("replaced file not reloaded")
	}
}

func TestWatch(t *testing.T) {
	dir := copyDir(t, "set")
	s := loadSet(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, 10*time.Millisecond)
	}()
	writeFile(t, filepath.Join(dir, "vips.txt"), "zoe\n")
	deadline := time.Now().Add(20 * time.Second)
	for !s.Contains("vips", "zoe") {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestAddRemoveSave(t *testing.T) {
	dir := copyDir(t, "set")
	var clock atomic.Int64
	clock.Store(testNow.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	s, err := Load(dir, WithClock(now))
	if err != nil {
		t.Fatal(err)
	}

	// Add to a YAML list, with an expiry.
	exp := testNow.Add(time.Hour)
	if err := s.Add("tor-exits", Entry{Value: "203.0.113.0/24", Note: "from the UI", Owner: "analyst1", Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if !s.Contains("tor-exits", "203.0.113.77") {
		t.Fatal("added prefix not matched")
	}
	clock.Store(exp.UnixNano())
	if s.Contains("tor-exits", "203.0.113.77") {
		t.Fatal("entry matched at its expiry time")
	}
	clock.Store(testNow.UnixNano())
	// Replacing an entry: same prefix written differently.
	if err := s.Add("tor-exits", Entry{Value: "203.0.113.9/24", Note: "renewed"}); err != nil {
		t.Fatal(err)
	}
	es, _ := s.Entries("tor-exits")
	if n := len(es); n != 8 || es[7].Value != "203.0.113.0/24" || es[7].Note != "renewed" || !es[7].Expires.IsZero() || !es[7].Added.Equal(testNow) {
		t.Fatalf("entries after replace: %d, last %+v", n, es[len(es)-1])
	}
	// Bad entries and unknown lists.
	if err := s.Add("tor-exits", Entry{Value: "10.0.0.0/40"}); err == nil {
		t.Error("Add(bad CIDR): no error")
	}
	if err := s.Add("nope", Entry{Value: "x"}); !errors.Is(err, ErrNoList) {
		t.Errorf("Add(unknown list) = %v", err)
	}
	if err := s.Remove("vips", "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(missing) = %v", err)
	}
	if err := s.Remove("nope", "x"); !errors.Is(err, ErrNoList) {
		t.Errorf("Remove(unknown list) = %v", err)
	}

	// Runtime changes survive a reload while the file is unchanged.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if !s.Contains("tor-exits", "203.0.113.1") {
		t.Fatal("unsaved change lost by a no-op reload")
	}

	// Save the YAML list and read it back in a fresh Set.
	if err := s.Save("tor-exits"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := s.Status().Reloads; got != 1 {
		t.Errorf("Save caused a reload (%d)", got)
	}
	s2, err := Load(dir, WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tor-exits", "devices", "brute-force-exempt"} {
		a, _ := s.Entries(name)
		b, _ := s2.Entries(name)
		if !entriesEqual(a, b) {
			t.Errorf("%s round trip:\n%+v\n%+v", name, a, b)
		}
	}

	// A text list: Remove, Add, Save converts it to YAML.
	if err := s.Remove("vips", "BOB.SMITH"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("vips", Entry{Value: "Frank", Owner: "analyst2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("vips"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vips.txt")); !os.IsNotExist(err) {
		t.Fatalf("vips.txt still there: %v", err)
	}
	li := infoOf(s, "vips")
	if li.File != "vips.yaml" || li.Error != "" {
		t.Fatalf("vips after save: %+v", li)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	s3, err := Load(dir, WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Entries("vips")
	b, _ := s3.Entries("vips")
	if !entriesEqual(a, b) || s3.Contains("vips", "bob.smith") || !s3.Contains("vips", "frank") {
		t.Fatalf("vips round trip:\n%+v\n%+v", a, b)
	}

	// Save refuses to overwrite a file changed on disk since it was read.
	if err := s.Add("devices", Entry{User: "erin", Device: "ApplNEW"}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "devices.yaml"), "name: devices\nkind: device\nentries: [x/Y]\n")
	if err := s.Save("devices"); err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("Save over an external change = %v", err)
	}
	// ... and a broken one.
	writeFile(t, filepath.Join(dir, "devices.yaml"), "name: devices\nkind: device\nentries: [x]\n")
	if err := s.Reload(); err == nil {
		t.Fatal("broken devices.yaml not reported")
	}
	if err := s.Save("devices"); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Save over a broken file = %v", err)
	}
}

func entriesEqual(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool {
		return x.Value == y.Value && x.User == y.User && x.Device == y.Device && x.Note == y.Note &&
			x.Owner == y.Owner && x.Added.Equal(y.Added) && x.Expires.Equal(y.Expires)
	})
}

func infoOf(s *Set, name string) ListInfo {
	for _, li := range s.Lists() {
		if li.Name == name {
			return li
		}
	}
	return ListInfo{}
}

func TestDeviceRemoval(t *testing.T) {
	dir := copyDir(t, "set")
	s := loadSet(t, dir)
	if _, ok := s.Device("alice", "ApplF17ABCDEF12"); !ok {
		t.Fatal("setup")
	}
	if err := s.Remove("devices", "ALICE/applf17abcdef12"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Device("alice", "ApplF17ABCDEF12"); ok {
		t.Fatal("removed device still registered")
	}
	if s.Contains("devices", "alice/ApplF17ABCDEF12") {
		t.Fatal("removed device still in its list")
	}
	if _, ok := s.Match("r", RolePlain, "", "", "alice", "ApplF17ABCDEF12"); ok {
		t.Fatal("removed device still matches")
	}
	if err := s.Add("devices", Entry{Value: "alice ApplF17ABCDEF12", Note: "back"}); err != nil {
		t.Fatal(err)
	}
	if e, ok := s.Device("alice", "applf17abcdef12"); !ok || e.Note != "back" {
		t.Fatalf("re-added device: %+v, %v", e, ok)
	}
}

func TestNilSet(t *testing.T) {
	var s *Set
	if s.Contains("a", "b") || s.ContainsIP("a", netip.MustParseAddr("1.2.3.4")) || s.HasList("a") {
		t.Error("nil Set has lists")
	}
	if _, ok := s.Device("a", "b"); ok {
		t.Error("nil Set has devices")
	}
	if _, ok := s.Match("r", RoleAllow, "1.2.3.4", "a", "a", "b"); ok {
		t.Error("nil Set matches")
	}
	if s.Lists() != nil || s.Status().Dir != "" {
		t.Error("nil Set describes lists")
	}
	if _, ok := s.Entries("a"); ok {
		t.Error("nil Set has entries")
	}
	if s.Add("a", Entry{Value: "x"}) == nil || s.Remove("a", "x") == nil || s.Save("a") == nil {
		t.Error("nil Set accepts edits")
	}
}

// TestConcurrent runs lookups against edits and reloads (for -race).
func TestConcurrent(t *testing.T) {
	dir := copyDir(t, "set")
	s := loadSet(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := netip.MustParseAddr("198.51.100.1")
			for ctx.Err() == nil {
				if !s.ContainsIP("vpn-exits", ip) {
					t.Error("lookup failed during edits")
					return
				}
				s.Contains("vips", "Alice")
				s.Device("alice", "ApplF17ABCDEF12")
				s.Match("impossible-travel", RoleAllow, "198.51.100.1", "alice", "alice", "x")
				s.Lists()
			}
		}()
	}
	for i := range 50 {
		if err := s.Add("vips", Entry{Value: "user" + string(rune('a'+i%26))}); err != nil {
			t.Error(err)
		}
		if i%10 == 0 {
			writeFile(t, filepath.Join(dir, "scanners.txt"), "10.0.0."+string(rune('0'+i/10))+"\n")
			if err := s.Reload(); err != nil {
				t.Error(err)
			}
		}
	}
	cancel()
	wg.Wait()
}

func TestFolderGone(t *testing.T) {
	dir := copyDir(t, "set")
	s := loadSet(t, dir)
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(moved, dir)
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a missing folder: no error")
	}
	if !s.Contains("vips", "alice") {
		t.Fatal("lists dropped with the folder")
	}
	st := s.Status()
	if st.DirError == "" || st.ReloadErrors != 1 {
		t.Fatalf("Status = %+v", st)
	}
	s.Reload() // the same problem is counted once
	if st := s.Status(); st.ReloadErrors != 1 {
		t.Fatalf("ReloadErrors = %d after a repeated folder error", st.ReloadErrors)
	}
	if err := os.Rename(moved, dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.DirError != "" {
		t.Fatalf("DirError = %q after the folder came back", st.DirError)
	}
}

// TestEntryFieldsRoundTrip: who added an entry, a device's model and its
// revocation are written to the file and read back; a revoked device
// (its expiry set at the revocation) is not registered.
func TestEntryFieldsRoundTrip(t *testing.T) {
	dir := copyDir(t, "set")
	s := loadSet(t, dir)
	e := Entry{User: "erin", Device: "ApplNEW1", Model: "iPhone 15", Note: "issued", By: "analyst1",
		Revoked: testNow, RevokedBy: "admin", Expires: testNow}
	if err := s.Add("devices", e); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Device("erin", "ApplNEW1"); ok {
		t.Fatal("revoked device registered")
	}
	if !s.Revoked("ERIN", "applnew1") || s.Revoked("alice", "ApplF17ABCDEF12") || s.Revoked("carol", "WP8DEVICE01") || s.Revoked("erin", "other") {
		t.Error("Revoked: want only erin's ApplNEW1 (carol's only expired)")
	}
	if err := s.Save("devices"); err != nil {
		t.Fatal(err)
	}
	s2 := loadSet(t, dir)
	got, err := s2.Entry("devices", "ERIN/applnew1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "iPhone 15" || got.By != "analyst1" || got.RevokedBy != "admin" || !got.Revoked.Equal(testNow) || !got.Expires.Equal(testNow) {
		t.Fatalf("read back %+v", got)
	}
	if _, err := s2.Entry("devices", "erin/other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Entry(missing) = %v", err)
	}
	if _, err := s2.Entry("nope", "x"); !errors.Is(err, ErrNoList) {
		t.Fatalf("Entry(unknown list) = %v", err)
	}
}
