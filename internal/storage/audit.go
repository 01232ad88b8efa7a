package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

const auditBucket = "audit"

// AuditEntry is one change made by a person or a token: who, when, from
// where, what and to what.
type AuditEntry struct {
	// Seq numbers the entries in the order they were written.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Actor is the user name ("token" for an API token, "cli" for the
	// shell commands); Role is the actor's role then.
	Actor string `json:"actor"`
	Role  string `json:"role,omitempty"`
	// Via is "console", "api" or "cli"; Remote the client's address.
	Via    string `json:"via,omitempty"`
	Remote string `json:"remote,omitempty"`
	// Action names the change ("alert.update", "list.add", "user.delete",
	// ...); Target what it changed ("alert 9f3c...", "list block_ips").
	Action string `json:"action"`
	Target string `json:"target"`
	// Detail says how, in words or as key=value pairs.
	Detail string `json:"detail,omitempty"`
}

// AppendAudit writes e to the audit trail in the same transaction as the
// change it describes, numbering it. e.Time must be set by the caller (its
// clock).
func (tx *Tx) AppendAudit(e *AuditEntry) error {
	if e.Action == "" || e.Actor == "" {
		return fmt.Errorf("storage: audit entry without actor or action: %+v", e)
	}
	n, err := tx.NextSeq(auditBucket)
	if err != nil {
		return err
	}
	e.Seq = n
	return tx.Put(auditBucket, SeqKey(n), e)
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	// Before returns entries older than this sequence number (0: from the
	// newest).
	Before uint64
	// Limit caps the entries returned (0: 100).
	Limit int
	// Actor and Action, when set, must match exactly; Action may end in
	// "." to match a prefix ("alert.").
	Actor, Action string
}

// Audit returns audit entries newest first.
func (db *DB) Audit(f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var out []AuditEntry
	before := ""
	if f.Before > 0 {
		before = SeqKey(f.Before)
	}
	err := db.View(func(tx *Tx) error {
		return tx.EachReverse(auditBucket, before, func(_ string, data []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(data, &e); err != nil {
				return fmt.Errorf("storage: audit: %w", err)
			}
			if f.Actor != "" && e.Actor != f.Actor {
				return nil
			}
			if f.Action != "" && !matchAction(f.Action, e.Action) {
				return nil
			}
			out = append(out, e)
			if len(out) >= f.Limit {
				return ErrStop
			}
			return nil
		})
	})
	return out, err
}

func matchAction(want, got string) bool {
	if n := len(want); n > 0 && want[n-1] == '.' {
		return len(got) >= n && got[:n] == want
	}
	return got == want
}
