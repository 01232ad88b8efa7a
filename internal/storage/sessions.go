package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

const sessionsBucket = "sessions"

// Session is a signed-in browser. It is stored under the SHA-256 of its
// id (hex): the id itself lives only in the browser's cookie, so a copy
// of the state file signs nobody in.
type Session struct {
	// Key is the hex SHA-256 of the session id.
	Key  string `json:"key"`
	User string `json:"user"`
	// CSRF is the token every change made with this session must carry.
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	// Seen is when the session was last used (updated at most once a
	// minute).
	Seen   time.Time `json:"seen"`
	Remote string    `json:"remote,omitempty"`
}

// Session reads the session stored under key.
func (tx *Tx) Session(key string) (Session, bool, error) {
	var s Session
	ok, err := tx.Get(sessionsBucket, key, &s)
	return s, ok, err
}

// PutSession writes s under s.Key.
func (tx *Tx) PutSession(s *Session) error {
	if s.Key == "" || s.User == "" {
		return fmt.Errorf("storage: session without key or user")
	}
	return tx.Put(sessionsBucket, s.Key, s)
}

// DeleteSession removes the session stored under key.
func (tx *Tx) DeleteSession(key string) error {
	return tx.Delete(sessionsBucket, key)
}

// DeleteSessions removes the sessions of user (all users when user is
// ""), except the one stored under keep.
func (tx *Tx) DeleteSessions(user, keep string) error {
	_, err := tx.deleteSessionsIf(func(s *Session) bool {
		return (user == "" || s.User == user) && s.Key != keep
	})
	return err
}

// DeleteExpiredSessions removes the sessions created before created or
// last seen before seen, and returns how many it removed.
func (tx *Tx) DeleteExpiredSessions(created, seen time.Time) (int, error) {
	return tx.deleteSessionsIf(func(s *Session) bool {
		return s.Created.Before(created) || s.Seen.Before(seen)
	})
}

func (tx *Tx) deleteSessionsIf(match func(*Session) bool) (int, error) {
	var keys []string
	err := tx.Each(sessionsBucket, "", func(k string, data []byte) error {
		var s Session
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("storage: session: %w", err)
		}
		if match(&s) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := tx.Delete(sessionsBucket, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
