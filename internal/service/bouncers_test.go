package service

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/storage"
)

func TestBouncers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), storage.FileName)
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewBouncers(db, func() time.Time { return now })
	admin := Actor{Name: "root", Role: RoleAdmin, Via: "cli"}

	if _, err := s.Add(ctx, Actor{Name: "ann", Role: RoleAnalyst}, "fw"); !errors.Is(err, ErrForbidden) {
		t.Errorf("analyst adds a bouncer: %v, want forbidden", err)
	}
	for _, bad := range []string{"", "a b", "-x", string(make([]byte, 65))} {
		if _, err := s.Add(ctx, admin, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	key, err := s.Add(ctx, admin, "fw")
	if err != nil || len(key) != 64 {
		t.Fatalf("add: %q %v", key, err)
	}
	if _, err := s.Add(ctx, admin, "fw"); err == nil {
		t.Error("a second bouncer fw was added")
	}
	key2, _ := s.Add(ctx, admin, "nginx")
	if key2 == key {
		t.Fatal("two bouncers got the same key")
	}

	name, p, ok := s.Authenticate(key)
	if !ok || name != "fw" || !p.Time.IsZero() {
		t.Fatalf("authenticate: %q %+v %v", name, p, ok)
	}
	for _, k := range []string{"", key[:63], key + "0", key2[:32] + key[32:]} {
		if _, _, ok := s.Authenticate(k); ok {
			t.Errorf("key %q accepted", k)
		}
	}

	// A pull without news stays in memory for a minute; a moved cursor
	// is written at once.
	saved := func() storage.Bouncer {
		var b storage.Bouncer
		_ = db.View(func(tx *storage.Tx) error { b, _, err = tx.Bouncer("fw"); return err })
		return b
	}
	pull := Pull{Time: now, Addr: "192.0.2.1", Agent: "crowdsec-firewall-bouncer/v0.0.28", Cursor: 0, Seen: now}
	if err := s.Pulled("fw", pull); err != nil {
		t.Fatal(err)
	}
	if b := saved(); !b.LastPull.Equal(now) {
		t.Errorf("first pull not saved: %+v", b)
	}
	pull.Time, pull.Seen = now.Add(30*time.Second), now.Add(30*time.Second)
	_ = s.Pulled("fw", pull)
	if b := saved(); !b.LastPull.Equal(now) {
		t.Errorf("a pull 30s later was written: %+v", b)
	}
	infos, _ := s.List(ctx, admin)
	if len(infos) != 2 || infos[0].Name != "fw" || !infos[0].LastPull.Equal(pull.Time) || infos[0].LastAgent != pull.Agent {
		t.Errorf("list: %+v", infos)
	}
	pull.Cursor = 5
	_ = s.Pulled("fw", pull)
	if b := saved(); b.Cursor != 5 || !b.Seen.Equal(pull.Seen) {
		t.Errorf("moved cursor not saved: %+v", b)
	}

	if err := s.Delete(ctx, admin, "fw"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Authenticate(key); ok {
		t.Error("a deleted bouncer's key still works")
	}
	if err := s.Delete(ctx, admin, "fw"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	var actions []string
	es, err := db.Audit(storage.AuditFilter{Limit: 10})
	for _, e := range es {
		actions = append(actions, e.Action+" "+e.Target)
	}
	if len(actions) != 3 || actions[0] != "bouncer.delete bouncer fw" {
		t.Errorf("audit: %q", actions)
	}

	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(key2)) {
		t.Error("the state file holds a key in clear")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v", st.Mode().Perm())
	}
}
