// Package storage keeps Vigil's mutable state: users, sessions, alert
// triage, incidents, the audit trail and the settings the console edits.
// Events and alerts live in the journal and the search store; this is the
// small transactional store for what people change.
//
// It is one bbolt file (data/state.db, mode 0600). Each entity has its own
// bucket and its own file in this package; values are JSON. A change and
// its audit entry are written in one transaction (see Tx.AppendAudit).
// Buckets are created on first write; changes of shape are migrations in
// migrate.go, run at Open.
package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the name of the state file in the data directory.
const FileName = "state.db"

// DB is the state store. It is safe for concurrent use: any number of
// View transactions run at once, Update transactions one at a time.
type DB struct {
	b *bolt.DB
}

// Open opens or creates the state file at path (mode 0600, its directory
// 0700) and runs the migrations it lacks. It fails within a second when
// another process holds the file.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("storage: %s is in use by another process (is another vigil running on this data directory?)", path)
		}
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	// A file created by an older umask keeps its mode: make it private.
	if err := os.Chmod(path, 0o600); err != nil {
		b.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	db := &DB{b: b}
	if err := db.migrate(); err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the file.
func (db *DB) Close() error { return db.b.Close() }

// Path returns the file's path.
func (db *DB) Path() string { return db.b.Path() }

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error {
	return db.b.View(func(t *bolt.Tx) error { return fn(&Tx{t: t}) })
}

// Update runs fn in a read-write transaction: everything fn writes is
// committed together when it returns nil, and nothing when it fails.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.b.Update(func(t *bolt.Tx) error { return fn(&Tx{t: t}) })
}

// Tx is a transaction. Values are JSON documents under string keys in
// named buckets.
type Tx struct {
	t *bolt.Tx
}

// Get reads key of bucket into v. It reports false when there is none.
func (tx *Tx) Get(bucket, key string, v any) (bool, error) {
	b := tx.t.Bucket([]byte(bucket))
	if b == nil {
		return false, nil
	}
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("storage: %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

// Put writes v under key of bucket.
func (tx *Tx) Put(bucket, key string, v any) error {
	b, err := tx.bucket(bucket)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage: %s/%s: %w", bucket, key, err)
	}
	if err := b.Put([]byte(key), data); err != nil {
		return fmt.Errorf("storage: %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete removes key from bucket; a missing key is no error.
func (tx *Tx) Delete(bucket, key string) error {
	b := tx.t.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("storage: %s/%s: %w", bucket, key, err)
	}
	return nil
}

// ErrStop ends Each or EachReverse early without an error.
var ErrStop = errors.New("stop")

// Each calls fn for the keys of bucket from start on (all when start is
// ""), in key order, with the raw JSON value (valid only during the call:
// decode it with json.Unmarshal). fn returns ErrStop to end early.
func (tx *Tx) Each(bucket, start string, fn func(key string, data []byte) error) error {
	b := tx.t.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	if start == "" {
		k, v = c.First()
	} else {
		k, v = c.Seek([]byte(start))
	}
	for ; k != nil; k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// EachReverse is Each backwards: from the last key below before (all when
// before is "") down to the first.
func (tx *Tx) EachReverse(bucket, before string, fn func(key string, data []byte) error) error {
	b := tx.t.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	if before == "" {
		k, v = c.Last()
	} else {
		k, v = c.Seek([]byte(before))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if err := fn(string(k), v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// NextSeq returns the next number of bucket's sequence: 1, 2, ... Numbers
// are never reused, not even after a deletion.
func (tx *Tx) NextSeq(bucket string) (uint64, error) {
	b, err := tx.bucket(bucket)
	if err != nil {
		return 0, err
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("storage: %s: %w", bucket, err)
	}
	return n, nil
}

// SeqKey is the key of sequence number n: fixed width, so that key order
// is number order.
func SeqKey(n uint64) string {
	return fmt.Sprintf("%016x", n)
}

func (tx *Tx) bucket(name string) (*bolt.Bucket, error) {
	b, err := tx.t.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("storage: bucket %s: %w", name, err)
	}
	return b, nil
}
