package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAuditAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", FileName)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, a := range []string{"alert.update", "list.add", "alert.update"} {
		err := db.Update(func(tx *Tx) error {
			if err := tx.Put("things", a, i); err != nil {
				return err
			}
			return tx.AppendAudit(&AuditEntry{Time: t0, Actor: "ann", Action: a, Target: "x"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A failed change leaves no audit entry.
	_ = db.Update(func(tx *Tx) error {
		_ = tx.AppendAudit(&AuditEntry{Time: t0, Actor: "bob", Action: "user.delete"})
		return os.ErrInvalid
	})
	got, err := db.Audit(AuditFilter{})
	if err != nil || len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 1 {
		t.Fatalf("audit = %+v, %v", got, err)
	}
	got, _ = db.Audit(AuditFilter{Before: 3, Action: "alert."})
	if len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("filtered audit = %+v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(); v != len(migrations) {
		t.Fatalf("schema version %d", v)
	}
	var n int
	if ok, err := db.viewGet("things", "list.add", &n); !ok || err != nil || n != 1 {
		t.Fatalf("reopened: %v %v %d", ok, err, n)
	}
}

// viewGet reads one value in its own transaction.
func (db *DB) viewGet(bucket, key string, v any) (ok bool, err error) {
	err = db.View(func(tx *Tx) error {
		ok, err = tx.Get(bucket, key, v)
		return err
	})
	return ok, err
}
