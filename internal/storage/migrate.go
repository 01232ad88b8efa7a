package storage

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A migration changes the shape of the stored state from one version to
// the next. Migrations are appended, never edited or removed: a file
// written by any release is brought to this one's shape at Open.
type migration struct {
	name string
	fn   func(*Tx) error
}

// migrations in order; the file records how many it has run.
var migrations = []migration{
	{"create the meta bucket", func(*Tx) error { return nil }},
}

const (
	metaBucket = "meta"
	versionKey = "schema_version"
)

// migrate runs, in one transaction, the migrations the file lacks. A file
// written by a newer release is refused rather than misread.
func (db *DB) migrate() error {
	return db.b.Update(func(t *bolt.Tx) error {
		tx := &Tx{t: t}
		var v int
		if _, err := tx.Get(metaBucket, versionKey, &v); err != nil {
			return err
		}
		if v > len(migrations) {
			return fmt.Errorf("storage: %s has schema version %d, this vigil knows up to %d: use a newer vigil", db.b.Path(), v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if err := migrations[i].fn(tx); err != nil {
				return fmt.Errorf("storage: migration %d (%s): %w", i+1, migrations[i].name, err)
			}
		}
		return tx.Put(metaBucket, versionKey, len(migrations))
	})
}

// SchemaVersion returns the number of migrations the file has run.
func (db *DB) SchemaVersion() (int, error) {
	var v int
	err := db.View(func(tx *Tx) error {
		_, err := tx.Get(metaBucket, versionKey, &v)
		return err
	})
	return v, err
}
