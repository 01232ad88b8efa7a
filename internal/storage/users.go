package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

const usersBucket = "users"

// User is a console account. Hash is the password's hash (bcrypt): the
// password itself is never stored.
type User struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Hash string `json:"hash"`
	// Lang and Zone are the user's settings: a catalog language ("en",
	// "zh-CN") and an IANA time zone; empty means from the browser and
	// from the configuration.
	Lang    string    `json:"lang,omitempty"`
	Zone    string    `json:"zone,omitempty"`
	Created time.Time `json:"created"`
	// PasswordSet is when the password was last set.
	PasswordSet time.Time `json:"password_set"`
}

// User reads the user called name; it reports false when there is none.
func (tx *Tx) User(name string) (User, bool, error) {
	var u User
	ok, err := tx.Get(usersBucket, name, &u)
	return u, ok, err
}

// PutUser writes u under its name.
func (tx *Tx) PutUser(u *User) error {
	if u.Name == "" {
		return fmt.Errorf("storage: user without a name")
	}
	return tx.Put(usersBucket, u.Name, u)
}

// DeleteUser removes the user called name and all its sessions.
func (tx *Tx) DeleteUser(name string) error {
	if err := tx.Delete(usersBucket, name); err != nil {
		return err
	}
	return tx.DeleteSessions(name, "")
}

// Users returns every user in name order.
func (tx *Tx) Users() ([]User, error) {
	var out []User
	err := tx.Each(usersBucket, "", func(k string, data []byte) error {
		var u User
		if err := json.Unmarshal(data, &u); err != nil {
			return fmt.Errorf("storage: user %s: %w", k, err)
		}
		out = append(out, u)
		return nil
	})
	return out, err
}
