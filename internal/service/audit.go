package service

import (
	"context"

	"github.com/vigil-soc/vigil/internal/storage"
)

// Audit reads the audit trail.
type Audit struct {
	db *storage.DB
}

// NewAudit returns the audit reader over db.
func NewAudit(db *storage.DB) *Audit { return &Audit{db: db} }

// MaxAuditPage caps the entries of one page.
const MaxAuditPage = 500

// List returns entries newest first (PermAudit): f.Before (a sequence
// number, 0 for the newest), f.Limit (default 100, at most MaxAuditPage),
// f.Actor and f.Action (exact, or a prefix ending in ".").
func (s *Audit) List(_ context.Context, a Actor, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	if err := a.Check(PermAudit); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > MaxAuditPage {
		return nil, Invalidf("limit: at most %d entries a page", MaxAuditPage)
	}
	return s.db.Audit(f)
}
