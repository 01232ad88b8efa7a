package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/storage"
)

var (
	testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}
func (c *clock) set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time       { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration)  { c.ns.Add(int64(d)) }
func (c *clock) opt() lists.Option    { return lists.WithClock(c.now) }
func (c *clock) fn() func() time.Time { return c.now }

const (
	blockedTxt = "# kind: ip\n# role: block\n203.0.113.0/24   # scanners\n"
	devicesYML = "name: devices\nkind: device\nentries:\n  - user: zhangwei\n    device: 3B6F9E2C1A7D4E58\n    model: iPhone 15\n"
)

// listFixture is a list folder (files mode 0600), its Set, a state store
// and the service over them, all on one clock.
type listFixture struct {
	dir string
	set *lists.Set
	db  *storage.DB
	svc *Lists
	clk *clock
}

func newListFixture(t *testing.T) *listFixture {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"blocked.txt": blockedTxt, "devices.yaml": devicesYML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clk := newClock(testNow)
	set, err := lists.Load(dir, clk.opt())
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &listFixture{dir: dir, set: set, db: db, svc: NewLists(set, db, clk.fn()), clk: clk}
}

// reread loads the folder afresh: what a restart would see.
func (f *listFixture) reread(t *testing.T) *lists.Set {
	t.Helper()
	s, err := lists.Load(f.dir, f.clk.opt())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *listFixture) audit(t *testing.T) []storage.AuditEntry {
	t.Helper()
	es, err := f.db.Audit(storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestListsAddRemoveExpire(t *testing.T) {
	f := newListFixture(t)
	ctx := context.Background()
	if _, err := f.svc.AddEntry(ctx, viewer, "blocked", EntryInput{Value: "198.51.100.7"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("viewer add = %v", err)
	}
	exp := testNow.Add(time.Hour)
	e, err := f.svc.AddEntry(ctx, analyst, "blocked", EntryInput{Value: "198.51.100.0/24", Note: "phishing kit", Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	if e.By != "ann" || !e.Added.Equal(testNow) || e.State != EntryActive {
		t.Fatalf("added %+v", e)
	}
	// In effect at once, for the detector's Set.
	if !f.set.Contains("blocked", "198.51.100.9") {
		t.Fatal("added entry not in effect")
	}
	// Written back: the text list became YAML, mode kept.
	fi, err := os.Stat(filepath.Join(f.dir, "blocked.yaml"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("blocked.yaml: %v, %v", fi, err)
	}
	got, err := f.reread(t).Entry("blocked", "198.51.100.0/24")
	if err != nil || got.By != "ann" || got.Note != "phishing kit" || !got.Expires.Equal(exp) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	au := f.audit(t)
	if len(au) != 1 || au[0].Action != "list.add" || au[0].Actor != "ann" || au[0].Target != "list blocked" || !strings.Contains(au[0].Detail, "198.51.100.0/24") {
		t.Fatalf("audit %+v", au)
	}

	// The expiry, by the injected clock.
	f.clk.set(exp)
	if f.set.Contains("blocked", "198.51.100.9") {
		t.Fatal("expired entry still matches")
	}
	p, err := f.svc.List(ctx, viewer, "blocked", EntryQuery{Filter: "PHISHING"})
	if err != nil || p.Total != 1 || p.Entries[0].State != EntryExpired || p.List.Active != 1 || p.List.Entries != 2 {
		t.Fatalf("list %+v, %v", p, err)
	}
	f.clk.set(testNow)

	// Expire now.
	if _, err := f.svc.ExpireEntry(ctx, analyst, "blocked", "203.0.113.0/24", time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.clk.add(time.Second)
	if f.set.Contains("blocked", "203.0.113.5") {
		t.Fatal("entry expired now still matches")
	}
	if got, _ := f.reread(t).Entry("blocked", "203.0.113.0/24"); !got.Expires.Equal(testNow) || got.Note != "scanners" {
		t.Fatalf("expired entry read back %+v", got)
	}

	// Remove.
	if err := f.svc.RemoveEntry(ctx, analyst, "blocked", "198.51.100.0/24"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reread(t).Entry("blocked", "198.51.100.0/24"); !errors.Is(err, lists.ErrNotFound) {
		t.Fatalf("removed entry read back: %v", err)
	}
	if err := f.svc.RemoveEntry(ctx, analyst, "blocked", "198.51.100.0/24"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice = %v", err)
	}
	if err := f.svc.RemoveEntry(ctx, analyst, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove from unknown list = %v", err)
	}
	if _, err := f.svc.AddEntry(ctx, analyst, "blocked", EntryInput{Value: "10.0.0.0/40"}); !IsInvalid(err) {
		t.Fatalf("bad CIDR = %v", err)
	}
	if _, err := f.svc.AddEntry(ctx, analyst, "blocked", EntryInput{Value: "10.0.0.1", Expires: testNow}); !IsInvalid(err) {
		t.Fatalf("expiry in the past = %v", err)
	}
	if n := len(f.audit(t)); n != 3 {
		t.Fatalf("%d audit entries, want 3", n)
	}
}

// TestListsEditedByHand: an edit of the file made meanwhile is kept (the
// service reloads before it changes a list).
func TestListsEditedByHand(t *testing.T) {
	f := newListFixture(t)
	path := filepath.Join(f.dir, "devices.yaml")
	if err := os.WriteFile(path, []byte(devicesYML+"  - user: lisi\n    device: HAND1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour) // a new modification time for sure
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Register(context.Background(), analyst, DeviceInput{User: "wangfang", Device: "NEW2"}); err != nil {
		t.Fatal(err)
	}
	s := f.reread(t)
	for _, d := range [][2]string{{"lisi", "HAND1"}, {"wangfang", "NEW2"}, {"zhangwei", "3B6F9E2C1A7D4E58"}} {
		if _, ok := s.Device(d[0], d[1]); !ok {
			t.Errorf("%s/%s not registered", d[0], d[1])
		}
	}
}

func TestDevicesRegisterRevoke(t *testing.T) {
	f := newListFixture(t)
	ctx := context.Background()
	if _, ok := f.set.Device("zhangwei", "3b6f9e2c1a7d4e58"); !ok {
		t.Fatal("setup")
	}
	if _, err := f.svc.Revoke(ctx, viewer, "", "3B6F9E2C1A7D4E58", ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("viewer revoke = %v", err)
	}
	v, err := f.svc.Revoke(ctx, analyst, "", "3b6f9e2c1a7d4e58", "lost on the metro")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != EntryRevoked || v.RevokedBy != "ann" || !v.Revoked.Equal(testNow) || v.List != "devices" || v.Note != "revoked: lost on the metro" {
		t.Fatalf("revoked %+v", v)
	}
	// Unregistered for the detector's next lookup, and after a restart.
	f.clk.add(time.Millisecond)
	if _, ok := f.set.Device("zhangwei", "3B6F9E2C1A7D4E58"); ok {
		t.Fatal("revoked device still registered")
	}
	got, err := f.reread(t).Entry("devices", "zhangwei/3B6F9E2C1A7D4E58")
	if err != nil || got.RevokedBy != "ann" || got.Model != "iPhone 15" {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if _, err := f.svc.Revoke(ctx, analyst, "zhangwei", "3B6F9E2C1A7D4E58", ""); !IsInvalid(err) {
		t.Fatalf("revoke twice = %v", err)
	}
	if _, err := f.svc.Revoke(ctx, analyst, "", "NOPE", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown = %v", err)
	}

	// Register a new phone; register the lost one again.
	if _, err := f.svc.Register(ctx, analyst, DeviceInput{User: "zhangwei", Device: "NEWPHONE1", Model: "Pixel 9", Note: "replacement"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Register(ctx, analyst, DeviceInput{User: "zhangwei", Device: "3B6F9E2C1A7D4E58"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.set.Device("zhangwei", "3B6F9E2C1A7D4E58"); !ok {
		t.Fatal("registered again but not registered")
	}
	p, err := f.svc.Devices(ctx, viewer, DeviceQuery{User: "ZHANGWEI"})
	if err != nil || p.Total != 2 || p.Registry != "devices" || p.Devices[1].Device != "NEWPHONE1" || p.Devices[1].Model != "Pixel 9" || p.Devices[1].By != "ann" {
		t.Fatalf("devices %+v, %v", p, err)
	}
	if p, _ := f.svc.Devices(ctx, viewer, DeviceQuery{Filter: "pixel"}); p.Total != 1 {
		t.Fatalf("filter: %+v", p)
	}
	var actions []string
	for _, e := range f.audit(t) {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "device.register,device.register,device.revoke" {
		t.Fatalf("audit actions %v", actions)
	}
	if _, err := f.svc.Register(ctx, analyst, DeviceInput{User: "x", Device: "a b"}); !IsInvalid(err) {
		t.Fatalf("bad device id = %v", err)
	}
}

// TestListsFailureUndoes: a change whose file cannot be written or whose
// audit entry cannot be written is undone: no silent change.
func TestListsFailureUndoes(t *testing.T) {
	ctx := context.Background()
	t.Run("file", func(t *testing.T) {
		f := newListFixture(t)
		// A broken file keeps its previous version in service and Save
		// refuses to overwrite it.
		if err := os.WriteFile(filepath.Join(f.dir, "devices.yaml"), []byte("name: devices\nkind: device\nentries: [x]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Hour)
		os.Chtimes(filepath.Join(f.dir, "devices.yaml"), future, future)
		_, err := f.svc.Revoke(ctx, analyst, "", "3B6F9E2C1A7D4E58", "")
		if err == nil || !strings.Contains(err.Error(), "not changed") {
			t.Fatalf("revoke over a broken file = %v", err)
		}
		if _, ok := f.set.Device("zhangwei", "3B6F9E2C1A7D4E58"); !ok {
			t.Fatal("a change that was not saved stayed in effect")
		}
		if n := len(f.audit(t)); n != 0 {
			t.Fatalf("%d audit entries for a change not made", n)
		}
	})
	t.Run("audit", func(t *testing.T) {
		f := newListFixture(t)
		f.db.Close() // the audit write fails
		_, err := f.svc.Register(ctx, analyst, DeviceInput{User: "lisi", Device: "X1"})
		if err == nil || !strings.Contains(err.Error(), "audit") {
			t.Fatalf("register without an audit trail = %v", err)
		}
		if _, ok := f.set.Device("lisi", "X1"); ok {
			t.Fatal("an unaudited change stayed in effect")
		}
		if _, ok := f.reread(t).Device("lisi", "X1"); ok {
			t.Fatal("an unaudited change stayed in the file")
		}
	})
}

func TestListsExpiresIn(t *testing.T) {
	f := newListFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		in   EntryInput
		want time.Time // zero: refused
	}{
		{EntryInput{Value: "198.51.100.1", ExpiresIn: "30d"}, testNow.Add(30 * 24 * time.Hour)},
		{EntryInput{Value: "198.51.100.2", ExpiresIn: "12h"}, testNow.Add(12 * time.Hour)},
		{EntryInput{Value: "198.51.100.3", ExpiresIn: "soon"}, time.Time{}},
		{EntryInput{Value: "198.51.100.4", ExpiresIn: "-1h"}, time.Time{}},
		{EntryInput{Value: "198.51.100.5", ExpiresIn: "1h", Expires: testNow.Add(time.Hour)}, time.Time{}},
	} {
		e, err := f.svc.AddEntry(ctx, analyst, "blocked", c.in)
		if c.want.IsZero() {
			if !IsInvalid(err) {
				t.Errorf("%+v: %v, want refused", c.in, err)
			}
			continue
		}
		if err != nil || !e.Expires.Equal(c.want) {
			t.Errorf("%+v: expires %v, %v; want %v", c.in, e.Expires, err, c.want)
		}
	}
}
