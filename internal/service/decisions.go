package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/units"
)

// Decisions lists, adds and deletes enforcement decisions for operators
// (API, CLI). Reading needs PermRead; adding and deleting PermLists, like
// the lists and the device registry. Every change is recorded in the
// audit trail after the decision store synced it; if the audit entry
// cannot be written the change is undone (an added decision is deleted
// again), so that no change stays without its audit entry.
type Decisions struct {
	store *decision.Store
	db    *storage.DB
}

// NewDecisions returns the decision service over store and the state
// store db (for the audit trail).
func NewDecisions(store *decision.Store, db *storage.DB) *Decisions {
	return &Decisions{store: store, db: db}
}

// DecisionView is a decision with its state now.
type DecisionView struct {
	decision.Decision
	// State is active, dry-run, expired or deleted.
	State decision.State `json:"state"`
}

// DecisionQuery selects decisions.
type DecisionQuery struct {
	Scope  string // ip, range, user, device; "" any
	Value  string // the subject, in any form it is accepted in
	IP     string // an address: its ip decisions and the ranges holding it
	Origin string // exact, or a prefix ending in ':' ("rule:", "operator:")
	Alert  string // the decisions made for this alert id
	// States: active, dry-run, expired, deleted, or all; empty: active
	// and dry-run.
	States []string
	Limit  int // 0: 100; at most 1000
}

// DecisionInput is a decision an operator makes.
type DecisionInput struct {
	Scope string `json:"scope"`
	Value string `json:"value"`
	Type  string `json:"type,omitempty"` // default ban
	// Duration ("4h", "7d") or Until (RFC 3339) says how long it lasts.
	Duration string    `json:"duration,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	DryRun   bool      `json:"dry_run,omitempty"`
}

// Enforcing reports the policy's global switch (enforce.enabled) and
// dry-run mode (enforce.dry_run), for the pages that explain why a
// decision is only recorded.
func (s *Decisions) Enforcing() (enabled, dryRun bool) {
	p := s.store.Policy()
	return p.Enabled, p.DryRun
}

// List returns the decisions q selects, newest first.
func (s *Decisions) List(_ context.Context, a Actor, q DecisionQuery) ([]DecisionView, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	f := decision.Filter{Value: q.Value, Origin: q.Origin, Alert: q.Alert, Limit: q.Limit}
	if f.Limit <= 0 {
		f.Limit = defaultPage
	}
	f.Limit = min(f.Limit, maxPage)
	if q.Scope != "" {
		sc, err := decision.ParseScope(q.Scope)
		if err != nil {
			return nil, Invalidf("scope: %v", trimInvalid(err))
		}
		f.Scope = sc
	}
	if q.Value != "" && f.Scope == "" {
		return nil, Invalidf("value needs a scope")
	}
	if q.IP != "" {
		ip, err := netip.ParseAddr(q.IP)
		if err != nil {
			return nil, Invalidf("ip: %q is not an IP address", q.IP)
		}
		f.IP = ip
	}
	for _, st := range q.States {
		switch decision.State(st) {
		case decision.StateActive, decision.StateDryRun, decision.StateExpired, decision.StateDeleted:
			f.States = append(f.States, decision.State(st))
		case "all":
			f.States = append(f.States, decision.StateActive, decision.StateDryRun, decision.StateExpired, decision.StateDeleted)
		default:
			return nil, Invalidf("state %q: want active, dry-run, expired, deleted or all", st)
		}
	}
	f.Now = s.store.Now()
	ds := s.store.List(f)
	out := make([]DecisionView, len(ds))
	for i, d := range ds {
		out[i] = DecisionView{Decision: d, State: d.State(f.Now)}
	}
	return out, nil
}

// Add makes a decision of origin "operator:<name>", subject to the
// enforce policy: a refusal is an *InvalidError saying why.
func (s *Decisions) Add(ctx context.Context, a Actor, in DecisionInput) (DecisionView, error) {
	if err := a.Check(PermLists); err != nil {
		return DecisionView{}, err
	}
	now := s.store.Now()
	until := in.Until
	switch {
	case in.Duration != "" && !in.Until.IsZero():
		return DecisionView{}, Invalidf("give duration or until, not both")
	case in.Duration != "":
		d, err := units.ParseDuration(in.Duration)
		if err != nil || d.D() <= 0 {
			return DecisionView{}, Invalidf("duration: %q is not a positive duration (e.g. 4h, 7d)", in.Duration)
		}
		until = now.Add(d.D())
	case in.Until.IsZero():
		return DecisionView{}, Invalidf("duration or until is required")
	}
	d, err := s.store.Add(ctx, decision.Decision{
		Scope: decision.Scope(in.Scope), Value: in.Value, Type: decision.Type(in.Type),
		Reason: in.Reason, Origin: "operator:" + a.Name, Until: until, DryRun: in.DryRun,
	})
	if err != nil {
		return DecisionView{}, decisionErr(err)
	}
	detail := fmt.Sprintf("%s %s %s until %s", d.Type, d.Scope, d.Value, d.Until.UTC().Format(time.RFC3339))
	if d.DryRun {
		detail += " (dry run)"
	}
	if d.Reason != "" {
		detail += ": " + d.Reason
	}
	if err := s.audit(a, "decision.add", d.ID, detail); err != nil {
		if derr := s.store.Delete(ctx, d.ID, "audit-failure"); derr != nil {
			return DecisionView{}, fmt.Errorf("decision %d: the audit entry could not be written (%v) and the decision could not be deleted again: %w", d.ID, err, derr)
		}
		return DecisionView{}, fmt.Errorf("decision not made: the audit entry could not be written: %w", err)
	}
	return DecisionView{Decision: d, State: d.State(s.store.Now())}, nil
}

// Delete deletes decision id; it stays in the history.
func (s *Decisions) Delete(ctx context.Context, a Actor, id int64) error {
	if err := a.Check(PermLists); err != nil {
		return err
	}
	d, ok := s.store.Get(id)
	if !ok {
		return fmt.Errorf("decision %d: %w", id, ErrNotFound)
	}
	if err := s.store.Delete(ctx, id, "operator:"+a.Name); err != nil {
		return decisionErr(err)
	}
	detail := fmt.Sprintf("%s %s %s (origin %s)", d.Type, d.Scope, d.Value, d.Origin)
	if err := s.audit(a, "decision.delete", id, detail); err != nil {
		// A deletion cannot be undone (bouncers may have seen it): say so.
		return fmt.Errorf("decision %d deleted, but the audit entry could not be written: %w", id, err)
	}
	return nil
}

func (s *Decisions) audit(a Actor, action string, id int64, detail string) error {
	return s.db.Update(func(tx *storage.Tx) error {
		return tx.AppendAudit(&storage.AuditEntry{Time: s.store.Now().UTC(), Actor: a.Name, Role: string(a.Role), Via: a.Via,
			Remote: a.Remote, Action: action, Target: fmt.Sprintf("decision %d", id), Detail: detail})
	})
}

// decisionErr maps the store's errors to the service's kinds.
func decisionErr(err error) error {
	switch {
	case errors.Is(err, decision.ErrNotFound):
		return fmt.Errorf("%v: %w", err, ErrNotFound)
	case decision.Reason(err) != "error":
		return Invalidf("refused: %v", err)
	}
	return err
}

// trimInvalid drops the store's "invalid decision: " prefix.
func trimInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), decision.ErrInvalid.Error()+": ")
}
