package service

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-soc/vigil/internal/storage"
)

// Users manages console accounts and their settings. Every change is
// audited in its transaction.
type Users struct {
	db  *storage.DB
	pw  Passwords
	now func() time.Time
}

// Passwords hashes and checks passwords (auth.Passwords).
type Passwords interface {
	// Hash returns the hash to store, or an *InvalidError saying why
	// the password is not accepted.
	Hash(password string) (string, error)
	// Check reports whether password matches hash.
	Check(hash, password string) bool
}

// NewUsers returns the user service over db; now is its clock (nil:
// time.Now).
func NewUsers(db *storage.DB, pw Passwords, now func() time.Time) *Users {
	if now == nil {
		now = time.Now
	}
	return &Users{db: db, pw: pw, now: now}
}

// UserInfo is a user as shown: everything but the password hash.
type UserInfo struct {
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Lang        string    `json:"language,omitempty"`
	Zone        string    `json:"zone,omitempty"`
	Created     time.Time `json:"created"`
	PasswordSet time.Time `json:"password_set"`
}

func info(u storage.User) UserInfo {
	return UserInfo{Name: u.Name, Role: Role(u.Role), Lang: u.Lang, Zone: u.Zone, Created: u.Created, PasswordSet: u.PasswordSet}
}

var userNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`)

// CheckUserName returns an error in words when name is not a valid user
// name: 1-64 letters, digits and . _ @ -, starting with a letter or digit.
func CheckUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return Invalidf("user name %q: use 1-64 letters, digits and . _ @ -, starting with a letter or digit", name)
	}
	return nil
}

// List returns every user (PermUsers).
func (s *Users) List(_ context.Context, a Actor) ([]UserInfo, error) {
	if err := a.Check(PermUsers); err != nil {
		return nil, err
	}
	var out []UserInfo
	err := s.db.View(func(tx *storage.Tx) error {
		us, err := tx.Users()
		for _, u := range us {
			out = append(out, info(u))
		}
		return err
	})
	return out, err
}

// Get returns one user: any user for PermUsers, oneself for everybody.
func (s *Users) Get(_ context.Context, a Actor, name string) (UserInfo, error) {
	if name != a.Name {
		if err := a.Check(PermUsers); err != nil {
			return UserInfo{}, err
		}
	}
	var u storage.User
	err := s.db.View(func(tx *storage.Tx) error {
		var ok bool
		var err error
		u, ok, err = tx.User(name)
		if err == nil && !ok {
			err = fmt.Errorf("%w: user %q", ErrNotFound, name)
		}
		return err
	})
	return info(u), err
}

// Add creates a user (PermUsers).
func (s *Users) Add(_ context.Context, a Actor, name string, role Role, password string) error {
	if err := a.Check(PermUsers); err != nil {
		return err
	}
	if err := CheckUserName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.now()
	return s.db.Update(func(tx *storage.Tx) error {
		if _, ok, err := tx.User(name); err != nil || ok {
			if ok {
				return Invalidf("user %q exists already", name)
			}
			return err
		}
		if err := tx.PutUser(&storage.User{Name: name, Role: string(role), Hash: hash, Created: now, PasswordSet: now}); err != nil {
			return err
		}
		return tx.AppendAudit(s.audit(a, "user.add", name, "role="+string(role)))
	})
}

// SetRole changes a user's role (PermUsers). The last administrator stays
// one.
func (s *Users) SetRole(_ context.Context, a Actor, name string, role Role) error {
	if err := a.Check(PermUsers); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return s.change(name, func(tx *storage.Tx, u *storage.User) (*storage.AuditEntry, error) {
		if u.Role == string(role) {
			return nil, nil
		}
		if u.Role == string(RoleAdmin) {
			if err := lastAdmin(tx, name); err != nil {
				return nil, err
			}
		}
		old := u.Role
		u.Role = string(role)
		return s.audit(a, "user.role", name, "role="+old+" -> "+string(role)), nil
	})
}

// SetPassword sets a user's password (PermUsers, or oneself with the
// current password given as old) and ends the user's other sessions
// (keep: the session key to keep, the one making the change).
func (s *Users) SetPassword(_ context.Context, a Actor, name, old, password, keep string) error {
	self := a.Name == name && a.Via != "cli"
	if !self {
		if err := a.Check(PermUsers); err != nil {
			return err
		}
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.change(name, func(tx *storage.Tx, u *storage.User) (*storage.AuditEntry, error) {
		if self && !s.pw.Check(u.Hash, old) {
			return nil, Invalidf("the current password is wrong")
		}
		u.Hash = hash
		u.PasswordSet = s.now()
		if err := tx.DeleteSessions(name, keep); err != nil {
			return nil, err
		}
		return s.audit(a, "user.password", name, ""), nil
	})
}

// SetSettings changes a user's own language and time zone ("" for the
// defaults: the browser's language, the configured zone).
func (s *Users) SetSettings(_ context.Context, a Actor, lang, zone string) error {
	if err := a.Check(PermRead); err != nil {
		return err
	}
	if zone != "" {
		if _, err := time.LoadLocation(zone); err != nil || zone == "Local" {
			return Invalidf("time zone %q: want an IANA zone name like Asia/Shanghai or UTC", zone)
		}
	}
	switch lang {
	case "", "en", "zh-CN":
	default:
		return Invalidf("language %q: want en or zh-CN", lang)
	}
	return s.change(a.Name, func(tx *storage.Tx, u *storage.User) (*storage.AuditEntry, error) {
		if u.Lang == lang && u.Zone == zone {
			return nil, nil
		}
		u.Lang, u.Zone = lang, zone
		return s.audit(a, "user.settings", a.Name, fmt.Sprintf("language=%q zone=%q", lang, zone)), nil
	})
}

// Delete removes a user and its sessions (PermUsers). Nobody deletes
// themselves, and the last administrator stays.
func (s *Users) Delete(_ context.Context, a Actor, name string) error {
	if err := a.Check(PermUsers); err != nil {
		return err
	}
	if name == a.Name {
		return Invalidf("you cannot delete yourself")
	}
	return s.db.Update(func(tx *storage.Tx) error {
		u, ok, err := tx.User(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: user %q", ErrNotFound, name)
		}
		if u.Role == string(RoleAdmin) {
			if err := lastAdmin(tx, name); err != nil {
				return err
			}
		}
		if err := tx.DeleteUser(name); err != nil {
			return err
		}
		return tx.AppendAudit(s.audit(a, "user.delete", name, "role="+u.Role))
	})
}

// lastAdmin refuses a change that would leave no administrator but name.
func lastAdmin(tx *storage.Tx, name string) error {
	us, err := tx.Users()
	if err != nil {
		return err
	}
	for _, u := range us {
		if u.Name != name && u.Role == string(RoleAdmin) {
			return nil
		}
	}
	return Invalidf("%s is the last administrator: make another user admin first", name)
}

// change runs fn on the stored user name and writes it back with fn's
// audit entry; fn returning a nil entry changes nothing.
func (s *Users) change(name string, fn func(*storage.Tx, *storage.User) (*storage.AuditEntry, error)) error {
	return s.db.Update(func(tx *storage.Tx) error {
		u, ok, err := tx.User(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: user %q", ErrNotFound, name)
		}
		e, err := fn(tx, &u)
		if err != nil || e == nil {
			return err
		}
		if err := tx.PutUser(&u); err != nil {
			return err
		}
		return tx.AppendAudit(e)
	})
}

func (s *Users) hashPassword(pw string) (string, error) {
	return s.pw.Hash(pw)
}

func (s *Users) audit(a Actor, action, name, detail string) *storage.AuditEntry {
	return &storage.AuditEntry{Time: s.now(), Actor: a.Name, Role: string(a.Role), Via: a.Via, Remote: a.Remote,
		Action: action, Target: "user " + name, Detail: detail}
}
