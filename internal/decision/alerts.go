package decision

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
)

// AlertSender records the actions of alerts (alert.actions) as decisions
// of origin "rule:<rule id>". It is an output.Sender of the alert
// journal, so that every alert's actions are applied at least once from
// the alert journal's cursor: an alert read twice finds its decision
// (same alert and subject) and makes no second one.
type AlertSender struct {
	s   *Store
	log *slog.Logger
}

// NewAlertSender returns a sender adding to s (log: nil discards).
func NewAlertSender(s *Store, log *slog.Logger) *AlertSender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AlertSender{s: s, log: log}
}

// Send applies the actions of the alerts in recs. Refusals by the policy
// are counted and logged by the store; an alert older than its action's
// duration is not applied (reason "stale"). It fails only when the store
// cannot record (a write error, closed), so that the runner retries.
func (a *AlertSender) Send(ctx context.Context, recs []journal.Record) error {
	for i := range recs {
		var al alert.Alert
		if err := json.Unmarshal(recs[i].Data, &al); err != nil {
			a.log.Error("decisions: unreadable alert record; skipped", "seq", recs[i].Seq, "err", err)
			continue
		}
		for _, act := range al.Actions {
			if err := a.apply(ctx, &al, act); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *AlertSender) apply(ctx context.Context, al *alert.Alert, act alert.Action) error {
	now := a.s.now()
	// Event time is all an alert has: one whose last event is older than
	// the action's duration asks for a decision that would have ended.
	if !al.Last.IsZero() && now.Sub(al.Last) > act.Duration {
		a.s.m.refused.WithLabelValues("stale").Inc()
		return nil
	}
	_, err := a.s.Add(ctx, Decision{
		Scope:  Scope(act.Scope),
		Value:  act.Value,
		Type:   Type(act.Decision),
		Reason: al.Message,
		Origin: "rule:" + al.RuleID,
		Alert:  al.ID,
		Until:  now.Add(act.Duration),
	})
	if err == nil || Reason(err) != "error" {
		return nil // recorded, or refused by the policy (counted)
	}
	return err
}

// Close does nothing: the Store is closed by its owner.
func (a *AlertSender) Close() error { return nil }
