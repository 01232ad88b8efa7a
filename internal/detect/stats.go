package detect

import (
	"sync/atomic"
	"time"
)

// RuleStats are a rule's counters since the process started (they
// survive rule reloads, not restarts).
type RuleStats struct {
	// Hits counts the events that passed the rule's match, when and allow
	// lists: the events that reached its state.
	Hits uint64 `json:"hits"`
	// Alerts counts the alerts raised; LastAlert is the event time of the
	// last one.
	Alerts    uint64    `json:"alerts"`
	LastAlert time.Time `json:"last_alert,omitzero"`
	// EvalErrors counts expressions that failed at run time; LastError is
	// the last one's message.
	EvalErrors uint64 `json:"eval_errors"`
	LastError  string `json:"last_error,omitempty"`
	// Groups is the number of groups the rule held at the last timer
	// check.
	Groups int `json:"groups"`
}

// ruleStats are one rule's counters: written by the engine's goroutine
// with atomic operations, read by any.
type ruleStats struct {
	hits, alerts, evalErrs atomic.Uint64
	lastAlert, groups      atomic.Int64
	lastErr                atomic.Pointer[string]
}

func (s *ruleStats) get() RuleStats {
	out := RuleStats{Hits: s.hits.Load(), Alerts: s.alerts.Load(), EvalErrors: s.evalErrs.Load(), Groups: int(s.groups.Load())}
	if t := s.lastAlert.Load(); t != 0 {
		out.LastAlert = time.Unix(0, t).UTC()
	}
	if p := s.lastErr.Load(); p != nil {
		out.LastError = *p
	}
	return out
}

// statsFor returns the counters of rule id, creating them; the engine's
// goroutine only. The published map is replaced, never changed, so
// readers take no lock.
func (e *Engine) statsFor(id string) *ruleStats {
	m := e.stats.Load()
	if m != nil {
		if s, ok := (*m)[id]; ok {
			return s
		}
	}
	n := make(map[string]*ruleStats, 1+len(ptrMap(m)))
	for k, v := range ptrMap(m) {
		n[k] = v
	}
	s := new(ruleStats)
	n[id] = s
	e.stats.Store(&n)
	return s
}

func ptrMap(m *map[string]*ruleStats) map[string]*ruleStats {
	if m == nil {
		return nil
	}
	return *m
}

// Stats returns the counters of every rule that ran since the engine
// started. It is safe to call from any goroutine while the engine runs.
func (e *Engine) Stats() map[string]RuleStats {
	m := ptrMap(e.stats.Load())
	out := make(map[string]RuleStats, len(m))
	for id, s := range m {
		out[id] = s.get()
	}
	return out
}
