package auth

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

func openDB(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEnsureAdmin(t *testing.T) {
	db := openDB(t)
	var log bytes.Buffer
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	created, err := EnsureAdmin(db, now, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil || !created {
		t.Fatalf("EnsureAdmin: %v, %v", created, err)
	}
	m := regexp.MustCompile(`level=WARN msg=.*shown only once.* user=admin password=(\S+)`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("no warning with the password: %s", log.String())
	}
	pw := m[1]
	// Only the hash is kept, and it signs admin in.
	var u storage.User
	_ = db.View(func(tx *storage.Tx) error { u, _, err = tx.User("admin"); return err })
	if u.Role != "admin" || strings.Contains(u.Hash, pw) || !strings.HasPrefix(u.Hash, "$2a$11$") {
		t.Errorf("stored %+v", u)
	}
	s := NewSessions(db, Options{Now: func() time.Time { return now }})
	if _, id, err := s.Login("admin", pw, "", "127.0.0.1"); err != nil || id.User.Name != "admin" {
		t.Errorf("login with the logged password: %v", err)
	}
	// Once: a second start with a user creates none and logs nothing.
	log.Reset()
	if created, err := EnsureAdmin(db, now, slog.New(slog.NewTextHandler(&log, nil))); created || err != nil || log.Len() > 0 {
		t.Errorf("second EnsureAdmin: %v %v %q", created, err, log.String())
	}
}

func TestPasswordRules(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "12345678": true, "密码密码密码密码": true,
		strings.Repeat("x", 73): false, "bad\xffutf8-password": false} {
		err := CheckPasswordRules(pw)
		if (err == nil) != ok {
			t.Errorf("%q: %v", pw, err)
		}
		if err != nil && !service.IsInvalid(err) {
			t.Errorf("%q: %v is not an InvalidError", pw, err)
		}
	}
	if p := RandomPassword(); len(p) != 20 || CheckPasswordRules(p) != nil {
		t.Errorf("RandomPassword %q", p)
	}
	if CheckPassword("", "anything") {
		t.Error("an empty hash matched")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(3, time.Minute, func() time.Time { return now })
	for range 3 {
		if b, _ := l.Blocked("k"); b {
			t.Fatal("blocked too early")
		}
		l.Fail("k")
	}
	now = now.Add(20 * time.Second)
	if b, wait := l.Blocked("k"); !b || wait != 40*time.Second {
		t.Errorf("after 3 failures: %v %v", b, wait)
	}
	if b, _ := l.Blocked("other"); b {
		t.Error("another key is blocked")
	}
	now = now.Add(40 * time.Second)
	if b, _ := l.Blocked("k"); b {
		t.Error("still blocked after the window")
	}
	l.Fail("k")
	l.Reset("k")
	if b, _ := l.Blocked("k"); b {
		t.Error("blocked after Reset")
	}
}
