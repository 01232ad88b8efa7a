package service

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/storage"
)

// plainPasswords stands in for bcrypt (auth.Passwords) in these tests of
// the service's own rules.
type plainPasswords struct{}

func (plainPasswords) Hash(pw string) (string, error) {
	if len(pw) < 8 {
		return "", Invalidf("too short")
	}
	return "plain:" + pw, nil
}

func (plainPasswords) Check(hash, pw string) bool { return hash == "plain:"+pw }

func TestUsers(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	us := NewUsers(db, plainPasswords{}, func() time.Time { return now })
	ctx := context.Background()
	root := Actor{Name: "cli", Role: RoleAdmin, Via: "cli"}
	ann := Actor{Name: "ann", Role: RoleAdmin, Via: "console"}
	bob := Actor{Name: "bob", Role: RoleAnalyst, Via: "console"}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(us.Add(ctx, root, "ann", RoleAdmin, "password-ann"))
	must(us.Add(ctx, ann, "bob", RoleAnalyst, "password-bob"))
	for _, c := range []struct {
		name string
		err  error
		want string // "invalid", "forbidden", "notfound"
	}{
		{"analyst adds", us.Add(ctx, bob, "eve", RoleAdmin, "password-eve"), "forbidden"},
		{"analyst lists", func() error { _, err := us.List(ctx, bob); return err }(), "forbidden"},
		{"bad name", us.Add(ctx, ann, "a b", RoleViewer, "password-x"), "invalid"},
		{"bad role", us.Add(ctx, ann, "carl", "root", "password-x"), "invalid"},
		{"short password", us.Add(ctx, ann, "carl", RoleViewer, "short"), "invalid"},
		{"exists", us.Add(ctx, ann, "bob", RoleViewer, "password-x"), "invalid"},
		{"delete self", us.Delete(ctx, ann, "ann"), "invalid"},
		{"demote the last admin", us.SetRole(ctx, root, "ann", RoleViewer), "invalid"},
		{"delete the last admin", us.Delete(ctx, root, "ann"), "invalid"},
		{"delete nobody", us.Delete(ctx, ann, "nobody"), "notfound"},
		{"own password, wrong old one", us.SetPassword(ctx, bob, "bob", "nope", "password-new", ""), "invalid"},
		{"another's password as analyst", us.SetPassword(ctx, bob, "ann", "", "password-new", ""), "forbidden"},
		{"bad zone", us.SetSettings(ctx, bob, "zh-CN", "Mars/Base"), "invalid"},
		{"bad language", us.SetSettings(ctx, bob, "fr", ""), "invalid"},
	} {
		ok := false
		switch c.want {
		case "invalid":
			ok = IsInvalid(c.err)
		case "forbidden":
			ok = errors.Is(c.err, ErrForbidden)
		case "notfound":
			ok = errors.Is(c.err, ErrNotFound)
		}
		if !ok {
			t.Errorf("%s: %v, want %s", c.name, c.err, c.want)
		}
	}
	// A password change ends the user's other sessions.
	must(db.Update(func(tx *storage.Tx) error {
		for _, k := range []string{"k1", "k2"} {
			if err := tx.PutSession(&storage.Session{Key: k, User: "bob"}); err != nil {
				return err
			}
		}
		return nil
	}))
	must(us.SetPassword(ctx, bob, "bob", "password-bob", "password-new", "k2"))
	must(db.View(func(tx *storage.Tx) error {
		_, ok1, _ := tx.Session("k1")
		_, ok2, _ := tx.Session("k2")
		if ok1 || !ok2 {
			t.Errorf("after the password change: session k1 %v (want gone), k2 %v (want kept)", ok1, ok2)
		}
		return nil
	}))
	must(us.SetSettings(ctx, bob, "zh-CN", "Asia/Shanghai"))
	must(us.Add(ctx, ann, "carl", RoleAdmin, "password-carl"))
	must(us.SetRole(ctx, ann, "ann", RoleViewer)) // carl is admin now
	must(us.Delete(ctx, root, "bob"))
	list, err := us.List(ctx, root)
	if err != nil || len(list) != 2 || list[0].Name != "ann" || list[0].Role != RoleViewer || list[1].Name != "carl" {
		t.Errorf("users: %+v %v", list, err)
	}
	es, err := db.Audit(storage.AuditFilter{Action: "user."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	want := []string{"cli user.delete user bob", "ann user.role user ann", "ann user.add user carl", "bob user.settings user bob",
		"bob user.password user bob", "ann user.add user bob", "cli user.add user ann"}
	if len(got) != len(want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit[%d] %q, want %q", i, got[i], want[i])
		}
	}
}
