package auth

import (
	"log/slog"
	"time"

	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

// FirstAdmin is the name of the user created on first start.
const FirstAdmin = "admin"

// EnsureAdmin creates the user admin with a random password when there is
// no user at all, and logs the password once, as a warning: only its hash
// is kept. It reports whether it created the user.
func EnsureAdmin(db *storage.DB, now time.Time, log *slog.Logger) (bool, error) {
	pw := RandomPassword()
	hash, err := HashPassword(pw)
	if err != nil {
		return false, err
	}
	created := false
	err = db.Update(func(tx *storage.Tx) error {
		users, err := tx.Users()
		if err != nil || len(users) > 0 {
			return err
		}
		created = true
		if err := tx.PutUser(&storage.User{Name: FirstAdmin, Role: string(service.RoleAdmin), Hash: hash,
			Created: now, PasswordSet: now}); err != nil {
			return err
		}
		return tx.AppendAudit(&storage.AuditEntry{Time: now, Actor: "vigil", Via: "cli", Action: "user.add",
			Target: "user " + FirstAdmin, Detail: "role=admin; the first user, created at first start"})
	})
	if err != nil || !created {
		return false, err
	}
	log.Warn("created the console user admin with this password; it is shown only once (only its hash is kept): log in and change it, or set one with 'vigil users passwd admin'",
		"user", FirstAdmin, "password", pw)
	return true, nil
}
