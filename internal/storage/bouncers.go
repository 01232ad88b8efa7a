package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

const bouncersBucket = "bouncers"

// Bouncer is a registered enforcement client (a CrowdSec bouncer) and its
// key. Hash is the SHA-256 of the key, hex: the key itself is never
// stored.
type Bouncer struct {
	Name    string    `json:"name"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	// LastPull, LastAddr and LastAgent describe the bouncer's latest
	// pull as last saved (the server saves them at most once a minute).
	LastPull  time.Time `json:"last_pull,omitzero"`
	LastAddr  string    `json:"last_addr,omitempty"`
	LastAgent string    `json:"last_agent,omitempty"`
	// Cursor is the decision-change position the bouncer's stream has
	// reached; Seen is the time of the pull that reached it.
	Cursor int64     `json:"cursor,omitempty"`
	Seen   time.Time `json:"seen,omitzero"`
}

// Bouncer reads the bouncer called name; it reports false when there is
// none.
func (tx *Tx) Bouncer(name string) (Bouncer, bool, error) {
	var b Bouncer
	ok, err := tx.Get(bouncersBucket, name, &b)
	return b, ok, err
}

// PutBouncer writes b under its name.
func (tx *Tx) PutBouncer(b *Bouncer) error {
	if b.Name == "" {
		return fmt.Errorf("storage: bouncer without a name")
	}
	return tx.Put(bouncersBucket, b.Name, b)
}

// DeleteBouncer removes the bouncer called name.
func (tx *Tx) DeleteBouncer(name string) error { return tx.Delete(bouncersBucket, name) }

// Bouncers returns every bouncer in name order.
func (tx *Tx) Bouncers() ([]Bouncer, error) {
	var out []Bouncer
	err := tx.Each(bouncersBucket, "", func(k string, data []byte) error {
		var b Bouncer
		if err := json.Unmarshal(data, &b); err != nil {
			return fmt.Errorf("storage: bouncer %s: %w", k, err)
		}
		out = append(out, b)
		return nil
	})
	return out, err
}
