package main

import (
	"github.com/vigil-soc/vigil/internal/api"
	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/enforce"
	"github.com/vigil-soc/vigil/internal/parse/format"
)

// openEnforce serves nginx's auth_request check (GET /api/v1/enforce/check)
// over the decision store st and the device registry (detect.lists_dir;
// without one no device is registered) into o.
func (s *server) openEnforce(o *api.Options, st *decision.Store) error {
	mode, err := enforce.ParseDeviceMode(s.cfg.Enforce.Devices) // validated by config.Load
	if err != nil {
		return err
	}
	c, err := enforce.New(enforce.Options{
		Match:      enforce.StoreMatch(st),
		Devices:    mode,
		Registry:   s.lists,
		Users:      &format.Users{Domains: s.cfg.Parse.UserDomains},
		Now:        st.Now,
		Registerer: s.reg,
		Log:        s.log.With("component", "enforce"),
	})
	if err != nil {
		return err
	}
	o.Enforce = c
	return nil
}
