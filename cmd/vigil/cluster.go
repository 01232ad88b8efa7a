package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/vigil-soc/vigil/internal/cluster"
	"github.com/vigil-soc/vigil/internal/service"
)

// openCluster sets the searches' node name and peers from cluster:
// (docs/configuration.md): each peer's token is read from its file, and
// each peer's part of a search is bounded by cluster.peer_timeout and
// http.search_timeout, whichever is shorter.
func (s *server) openCluster(o *service.SearchOptions) error {
	c := s.cfg.Cluster
	o.Node = c.Name
	if len(c.Peers) == 0 {
		return nil
	}
	o.PeerTimeout = c.PeerTimeout.D()
	if t := s.cfg.HTTP.SearchTimeout.D(); t > 0 && t < o.PeerTimeout {
		o.PeerTimeout = t
	}
	m := cluster.NewMetrics(s.reg)
	for _, pc := range c.Peers {
		b, err := os.ReadFile(pc.TokenFile)
		if err != nil {
			return fmt.Errorf("cluster.peers %s: token_file: %w", pc.Name, err)
		}
		p, err := cluster.NewPeer(cluster.Config{Name: pc.Name, URL: pc.URL, Token: strings.TrimSpace(string(b)), CAFile: pc.CAFile}, c.Name, m)
		if err != nil {
			return err
		}
		o.Peers = append(o.Peers, p)
	}
	s.log.Info("cluster: searches read the peers too", "node", c.Name, "peers", len(o.Peers), "peer_timeout", o.PeerTimeout)
	return nil
}
