package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/geoip"
)

// openGeo opens the address databases of geoip.databases (or
// detect.geoip); nil without any.
func openGeo(cfg config.Config) (*geoip.DB, error) {
	srcs := cfg.GeoIPSources()
	if len(srcs) == 0 {
		return nil, nil
	}
	return geoip.OpenSources(srcs...)
}

// watchGeo reads the address databases again when their files change,
// until the server stops; each reload is logged and counted.
func (s *server) watchGeo() {
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_geoip_reloads_total",
		Help: "Address databases read again after their file changed, by result (ok, error: the previous version stays in service)."},
		[]string{"result"})
	ok, failed := reloads.WithLabelValues("ok"), reloads.WithLabelValues("error")
	s.reg.MustRegister(reloads)
	log := s.log.With("component", "geoip")
	for _, info := range s.geo.Infos() {
		log.Info("address database", "path", info.Path, "format", info.Format, "type", info.Type, "built", info.Built, "bytes", info.Size)
	}
	go s.geo.Watch(s.bg, geoWatchInterval, func(path string, info geoip.Info, err error) {
		if err != nil {
			failed.Inc()
			log.Error("address database does not load; the previous version stays in service", "path", path, "err", err)
			return
		}
		ok.Inc()
		log.Info("address database reloaded", "path", path, "type", info.Type, "built", info.Built, "bytes", info.Size)
	})
}

// geoWatchInterval is how often the database files are checked for a
// change (docs/configuration.md).
const geoWatchInterval = 10 * time.Second
