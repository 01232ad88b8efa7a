package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/output"
)

// openDecisions opens the decision store (<data>/decisions) with the
// enforce policy and, when detection runs, the runner that records the
// alerts' actions from the alert journal. It runs after the journal is
// open: the journal's lock on the data directory keeps a second process
// off the decision log.
func (s *server) openDecisions() error {
	cfg := s.cfg.Enforce
	nets, err := cfg.Networks()
	if err != nil {
		return fmt.Errorf("enforce.own_networks: %w", err) // validated by config.Load
	}
	log := s.log.With("component", "decisions")
	s.decisions, err = decision.Open(context.Background(), decision.Options{
		Policy: decision.Policy{
			Enabled:       cfg.Enabled,
			DryRun:        cfg.DryRun,
			MaxActiveBans: cfg.MaxActiveBans,
			OwnNetworks:   nets,
			AllowPrivate:  cfg.AllowPrivate,
		},
		Allow:      s.lists,
		Now:        time.Now,
		Registerer: s.reg,
		Logger:     log,
		Dir:        filepath.Join(s.cfg.DataDir, "decisions"),
		Retention:  cfg.HistoryRetention.D(),
	})
	if err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	if s.alerts == nil {
		return nil
	}
	snd := decision.NewAlertSender(s.decisions, log)
	o, err := output.NewRunner(s.alerts, "decisions", "decisions", "decision store", snd, s.reg, log)
	if err != nil {
		return err
	}
	s.alertOutputs = append(s.alertOutputs, o)
	return nil
}
