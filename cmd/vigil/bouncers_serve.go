package main

import (
	"github.com/vigil-soc/vigil/internal/api"
	"github.com/vigil-soc/vigil/internal/crowdsec"
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
