package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/storage"
)

// Bouncers manages the keys of enforcement clients (CrowdSec bouncers,
// the nginx check) and remembers each one's latest pull. A key is 32
// random bytes shown once, as 64 hex digits; only its SHA-256 is stored.
// Changes are audited.
type Bouncers struct {
	db  *storage.DB
	now func() time.Time

	mu    sync.Mutex
	pulls map[string]*pullState // by bouncer name
}

// pullState is a bouncer's latest pull and the one last saved.
type pullState struct {
	last, saved Pull
}

// Pull is what a bouncer's pull leaves behind.
type Pull struct {
	Time  time.Time
	Addr  string
	Agent string
	// Cursor is the position of the decision changes the bouncer has
	// received (its stream's state).
	Cursor int64
	// Seen is the time of the pull that reached Cursor.
	Seen time.Time
}

// pullSaveEvery is how often a bouncer's pull time is written to the
// state file when nothing else changed (a change of cursor is written at
// once).
const pullSaveEvery = time.Minute

// NewBouncers returns the bouncer service over db; now is its clock (nil:
// time.Now).
func NewBouncers(db *storage.DB, now func() time.Time) *Bouncers {
	if now == nil {
		now = time.Now
	}
	return &Bouncers{db: db, now: now, pulls: map[string]*pullState{}}
}

// BouncerInfo is a bouncer as shown: everything but its key's hash.
type BouncerInfo struct {
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	LastPull  time.Time `json:"last_pull,omitzero"`
	LastAddr  string    `json:"last_addr,omitempty"`
	LastAgent string    `json:"last_agent,omitempty"`
}

// Add registers a bouncer called name and returns its new key
// (PermUsers). The key is not kept: it cannot be shown again.
func (s *Bouncers) Add(_ context.Context, a Actor, name string) (string, error) {
	if err := a.Check(PermUsers); err != nil {
		return "", err
	}
	if err := CheckUserName(name); err != nil {
		return "", Invalidf("bouncer name %q: use 1-64 letters, digits and . _ @ -, starting with a letter or digit", name)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("bouncer key: %w", err)
	}
	key := hex.EncodeToString(raw)
	now := s.now()
	err := s.db.Update(func(tx *storage.Tx) error {
		if _, ok, err := tx.Bouncer(name); err != nil || ok {
			if ok {
				return Invalidf("bouncer %q exists already", name)
			}
			return err
		}
		if err := tx.PutBouncer(&storage.Bouncer{Name: name, Hash: hashKey(key), Created: now}); err != nil {
			return err
		}
		return tx.AppendAudit(s.audit(a, "bouncer.add", name))
	})
	if err != nil {
		return "", err
	}
	return key, nil
}

// List returns every bouncer with its latest pull (PermUsers).
func (s *Bouncers) List(_ context.Context, a Actor) ([]BouncerInfo, error) {
	if err := a.Check(PermUsers); err != nil {
		return nil, err
	}
	return s.Infos()
}

// Infos returns every bouncer with its latest pull, for the status page.
func (s *Bouncers) Infos() ([]BouncerInfo, error) {
	var bs []storage.Bouncer
	err := s.db.View(func(tx *storage.Tx) error {
		var err error
		bs, err = tx.Bouncers()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]BouncerInfo, 0, len(bs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bs {
		i := BouncerInfo{Name: b.Name, Created: b.Created, LastPull: b.LastPull, LastAddr: b.LastAddr, LastAgent: b.LastAgent}
		if st, ok := s.pulls[b.Name]; ok && st.last.Time.After(i.LastPull) {
			i.LastPull, i.LastAddr, i.LastAgent = st.last.Time, st.last.Addr, st.last.Agent
		}
		out = append(out, i)
	}
	return out, nil
}

// Delete removes a bouncer: its key stops working at once (PermUsers).
func (s *Bouncers) Delete(_ context.Context, a Actor, name string) error {
	if err := a.Check(PermUsers); err != nil {
		return err
	}
	err := s.db.Update(func(tx *storage.Tx) error {
		if _, ok, err := tx.Bouncer(name); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: bouncer %q", ErrNotFound, name)
			}
			return err
		}
		if err := tx.DeleteBouncer(name); err != nil {
			return err
		}
		return tx.AppendAudit(s.audit(a, "bouncer.delete", name))
	})
	if err == nil {
		s.mu.Lock()
		delete(s.pulls, name)
		s.mu.Unlock()
	}
	return err
}

// Authenticate returns the name of the bouncer whose key is key and its
// latest pull, or false. It costs one read transaction and one hash.
func (s *Bouncers) Authenticate(key string) (string, Pull, bool) {
	if key == "" || len(key) > 256 {
		return "", Pull{}, false
	}
	h := hashKey(key)
	var found storage.Bouncer
	var ok bool
	err := s.db.View(func(tx *storage.Tx) error {
		bs, err := tx.Bouncers()
		for _, b := range bs {
			if subtle.ConstantTimeCompare([]byte(b.Hash), []byte(h)) == 1 {
				found, ok = b, true
			}
		}
		return err
	})
	if err != nil || !ok {
		return "", Pull{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, mem := s.pulls[found.Name]
	if !mem {
		p := Pull{Time: found.LastPull, Addr: found.LastAddr, Agent: found.LastAgent, Cursor: found.Cursor, Seen: found.Seen}
		st = &pullState{last: p, saved: p}
		s.pulls[found.Name] = st
	}
	return found.Name, st.last, true
}

// Pulled records a bouncer's pull. It writes the state file when the
// cursor moved or the saved pull time is a minute old; otherwise the pull
// is kept in memory (status shows it).
func (s *Bouncers) Pulled(name string, p Pull) error {
	s.mu.Lock()
	st, ok := s.pulls[name]
	if !ok {
		s.mu.Unlock()
		return nil // deleted meanwhile
	}
	st.last = p
	old := st.saved
	if old.Cursor == p.Cursor && p.Time.Sub(old.Time) < pullSaveEvery && old.Addr == p.Addr {
		s.mu.Unlock()
		return nil
	}
	st.saved = p
	s.mu.Unlock()
	return s.db.Update(func(tx *storage.Tx) error {
		b, ok, err := tx.Bouncer(name)
		if err != nil || !ok {
			return err
		}
		b.LastPull, b.LastAddr, b.LastAgent, b.Cursor, b.Seen = p.Time, p.Addr, p.Agent, p.Cursor, p.Seen
		return tx.PutBouncer(&b)
	})
}

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

func (s *Bouncers) audit(a Actor, action, name string) *storage.AuditEntry {
	return &storage.AuditEntry{Time: s.now(), Actor: a.Name, Role: string(a.Role), Via: a.Via, Remote: a.Remote,
		Action: action, Target: "bouncer " + name}
}
