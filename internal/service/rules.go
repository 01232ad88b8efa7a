package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/storage"
)

// RuleEngine is what the rule service needs of the detector (cmd/vigil
// adapts *detect.Detector; this package cannot import detect).
type RuleEngine interface {
	// Pack is the rule pack as last loaded: every rule in pack order, the
	// loader's problems and when it loaded.
	Pack() ([]PackRule, []string, time.Time)
	// RuleStats are each rule's counters since the start.
	RuleStats() map[string]RuleStats
	// SetEnabled applies the complete set of run-time overrides (rule id
	// -> enabled).
	SetEnabled(map[string]bool)
}

// PackRule is a rule of the pack as the detector loaded it.
type PackRule struct {
	ID, Title, Description, Type, Threat, Level string
	File, Source                                string
	Requires                                    []string
	Enabled                                     bool
	// State says what decided Enabled: StateDefault, StateFile,
	// StateConfig or StateOverride.
	State string
	// Translations are the title and description in other languages, by
	// language (docs/rules.md#translations).
	Translations map[string]RuleText
}

// RuleText is a rule's title and description in one language.
type RuleText struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Rule states (detect.StateDefault ...).
const (
	StateDefault  = ""
	StateFile     = "file"
	StateConfig   = "config"
	StateOverride = "override"
)

// RuleStats are a rule's counters since the process started (see
// detect.RuleStats).
type RuleStats struct {
	Hits       uint64    `json:"hits"`
	Alerts     uint64    `json:"alerts"`
	LastAlert  time.Time `json:"last_alert,omitzero"`
	EvalErrors uint64    `json:"eval_errors"`
	LastError  string    `json:"last_error,omitempty"`
	Groups     int       `json:"groups"`
}

// Rules shows the rule pack with each rule's state and counters, and
// turns rules on and off. A rule's enabled state set here is kept in the
// state store (storage.RuleState) and applied to the pack at every start;
// it wins over detect.disable and the rule file's disabled key.
type Rules struct {
	eng RuleEngine
	db  *storage.DB
	now func() time.Time
	mu  sync.Mutex // one change at a time: store, audit, apply
}

// NewRules returns the rule service; now is its clock (nil: time.Now).
func NewRules(eng RuleEngine, db *storage.DB, now func() time.Time) *Rules {
	if now == nil {
		now = time.Now
	}
	return &Rules{eng: eng, db: db, now: now}
}

// RuleView is one rule of the pack.
type RuleView struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Type        string   `json:"type"`
	Threat      string   `json:"threat,omitempty"`
	Level       string   `json:"level"`
	File        string   `json:"file"`
	Requires    []string `json:"requires,omitempty"`
	Enabled     bool     `json:"enabled"`
	// State says what decided Enabled: "" (the rule's default), "file"
	// (disabled in its file), "config" (detect.disable) or "override"
	// (set from the console or the API: ChangedBy, ChangedAt).
	State     string    `json:"state,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
	Stats     RuleStats `json:"stats"`
	// Source is the rule's YAML text (Rule only).
	Source string `json:"source,omitempty"`
	// Errors are the loader's problems with the rule's file.
	Errors []string `json:"errors,omitempty"`
	// Translations are the title and description in other languages, by
	// language (Title and Description are the rule's own).
	Translations map[string]RuleText `json:"translations,omitempty"`
}

// In returns the rule's title and description in lang: its translation,
// else its own.
func (v RuleView) In(lang string) RuleText {
	if t, ok := v.Translations[lang]; ok {
		return t
	}
	return RuleText{Title: v.Title, Description: v.Description}
}

// RulePack is the whole pack.
type RulePack struct {
	Rules []RuleView `json:"rules"`
	// Errors are the problems `vigil rules lint` reports: files that do
	// not load, duplicate ids, rules that do not compile.
	Errors []string  `json:"errors"`
	Loaded time.Time `json:"loaded"`
}

// Pack returns every rule with its state and counters, in pack order.
func (s *Rules) Pack(_ context.Context, a Actor) (RulePack, error) {
	if err := a.Check(PermRead); err != nil {
		return RulePack{}, err
	}
	rules, errs, loaded := s.eng.Pack()
	states, err := s.db.RuleStates()
	if err != nil {
		return RulePack{}, err
	}
	stats := s.eng.RuleStats()
	out := RulePack{Rules: make([]RuleView, 0, len(rules)), Errors: errs, Loaded: loaded}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	for _, r := range rules {
		out.Rules = append(out.Rules, ruleView(r, states, stats, errs, false))
	}
	return out, nil
}

// Rule returns one rule with its YAML text.
func (s *Rules) Rule(_ context.Context, a Actor, id string) (RuleView, error) {
	if err := a.Check(PermRead); err != nil {
		return RuleView{}, err
	}
	r, errs, ok := s.find(id)
	if !ok {
		return RuleView{}, fmt.Errorf("rule %q: %w", id, ErrNotFound)
	}
	states, err := s.db.RuleStates()
	if err != nil {
		return RuleView{}, err
	}
	return ruleView(r, states, s.eng.RuleStats(), errs, true), nil
}

// Titles returns the title of every rule of the pack in lang (its
// translation, else its own), by id: what the console shows for an
// alert's rule.
func (s *Rules) Titles(a Actor, lang string) (map[string]string, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	rules, _, _ := s.eng.Pack()
	out := make(map[string]string, len(rules))
	for _, r := range rules {
		out[r.ID] = r.Title
		if t, ok := r.Translations[lang]; ok {
			out[r.ID] = t.Title
		}
	}
	return out, nil
}

// find returns the rule with that id and the pack's problems.
func (s *Rules) find(id string) (PackRule, []string, bool) {
	rules, errs, _ := s.eng.Pack()
	for _, r := range rules {
		if r.ID == id {
			return r, errs, true
		}
	}
	return PackRule{}, errs, false
}

func ruleView(r PackRule, states map[string]storage.RuleState, stats map[string]RuleStats, errs []string, source bool) RuleView {
	v := RuleView{ID: r.ID, Title: r.Title, Description: r.Description, Type: r.Type, Threat: r.Threat, Level: r.Level,
		File: r.File, Requires: r.Requires, Enabled: r.Enabled, State: r.State, Stats: stats[r.ID], Translations: r.Translations}
	if st, ok := states[r.ID]; ok && r.State == StateOverride {
		v.ChangedBy, v.ChangedAt = st.By, st.At
	}
	if source {
		v.Source = r.Source
	}
	for _, e := range errs {
		if strings.HasPrefix(e, r.File+":") {
			v.Errors = append(v.Errors, e)
		}
	}
	return v
}

// SetEnabled turns a rule on or off: recorded with its audit entry in
// one transaction, then applied to the running detector (within about a
// second, without a restart).
func (s *Rules) SetEnabled(ctx context.Context, a Actor, id string, on bool) (RuleView, error) {
	if err := a.Check(PermRules); err != nil {
		return RuleView{}, err
	}
	if _, _, ok := s.find(id); !ok {
		return RuleView{}, fmt.Errorf("rule %q: %w", id, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	action := "rule.disable"
	if on {
		action = "rule.enable"
	}
	var states map[string]storage.RuleState
	err := s.db.Update(func(tx *storage.Tx) error {
		if err := tx.PutRuleState(&storage.RuleState{ID: id, Enabled: on, By: a.Name, At: now}); err != nil {
			return err
		}
		if err := tx.AppendAudit(&storage.AuditEntry{Time: now, Actor: a.Name, Role: string(a.Role), Via: a.Via,
			Remote: a.Remote, Action: action, Target: "rule " + id}); err != nil {
			return err
		}
		var err error
		states, err = tx.RuleStates()
		return err
	})
	if err != nil {
		return RuleView{}, fmt.Errorf("rule %q: not changed: %w", id, err)
	}
	s.eng.SetEnabled(Overrides(states))
	return s.Rule(ctx, a, id)
}

// Overrides turns the stored rule states into the detector's overrides.
func Overrides(states map[string]storage.RuleState) map[string]bool {
	out := make(map[string]bool, len(states))
	for id, st := range states {
		out[id] = st.Enabled
	}
	return out
}
