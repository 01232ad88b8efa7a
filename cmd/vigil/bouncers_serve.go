package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/vigil-soc/vigil/internal/api"
	"github.com/vigil-soc/vigil/internal/crowdsec"
	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/service"
)

// openBouncers serves the bouncer keys (/api/v1/bouncers) and the CrowdSec
// bouncer API (/v1/decisions*) over src into o, and lists the bouncers'
// latest pulls in the status.
func (s *server) openBouncers(o *api.Options, src crowdsec.Source) {
	s.bouncers = service.NewBouncers(s.state, nil)
	o.Bouncers = s.bouncers
	o.BouncerAPI = crowdsec.New(crowdsec.Options{Source: src, Keys: s.bouncers, Registerer: s.reg})
	o.BouncerPatterns = crowdsec.Patterns
}

// bouncerStatus lists the bouncers and their latest pulls for
// /api/v1/status.
func (s *server) bouncerStatus() any {
	if s.bouncers == nil {
		return []service.BouncerInfo{}
	}
	bs, err := s.bouncers.Infos()
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return bs
}

// decisionStore opens the decision store the bouncer API serves.
// TODO(lead): h/decision wires its store and the enforce: policy into
// serve.go; use that one here when merging.
func (s *server) decisionStore(ctx context.Context) (*decision.Store, error) {
	e := s.cfg.Enforce
	own, err := e.Networks()
	if err != nil {
		return nil, fmt.Errorf("enforce.own_networks: %w", err)
	}
	st, err := decision.Open(ctx, decision.Options{
		Policy: decision.Policy{Enabled: e.Enabled, DryRun: e.DryRun, MaxActiveBans: e.MaxActiveBans,
			OwnNetworks: own, AllowPrivate: e.AllowPrivate},
		Registerer: s.reg, Logger: s.log.With("component", "decision"),
		Dir: filepath.Join(s.cfg.DataDir, "decisions"), Retention: e.HistoryRetention.D()})
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	return st, nil
}
