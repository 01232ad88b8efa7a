package config

import (
	"fmt"
	"net/url"
	"os"
	"runtime"
	"time"
)

// Cluster names this node and the other nodes a search reads besides it
// (docs/configuration.md, "cluster").
type Cluster struct {
	// Name is this node's name: events found here carry it, and the
	// peers name this node by it.
	Name string `yaml:"name"`
	// Peers are the other nodes; none: searches read this node alone.
	Peers []Peer `yaml:"peers"`
	// PeerTimeout bounds each peer's answer to one search (and to one
	// step of a search); a peer that takes longer is reported as failed.
	PeerTimeout Duration `yaml:"peer_timeout"`
}

// Peer is another node of the cluster.
type Peer struct {
	Name string `yaml:"name"`
	// URL is the peer's API base URL (its http.addr), http or https.
	URL string `yaml:"url"`
	// TokenFile holds one of the peer's API tokens (mode 0600).
	TokenFile string `yaml:"token_file"`
	// CAFile, when set, is the CA that signed an https peer's certificate.
	CAFile string `yaml:"ca_file"`
}

// defaultPeerTimeout is cluster.peer_timeout's default.
const defaultPeerTimeout = 30 * time.Second

// clusterProblems checks the cluster section.
func (c *Config) clusterProblems() Problems {
	var ps Problems
	bad := func(path, format string, args ...any) { ps = append(ps, c.Problem(path, format, args...)) }
	cl := c.Cluster
	if cl.Name != "" && !validName(cl.Name) {
		bad("cluster.name", "%q must be letters, digits, '-' or '_'", cl.Name)
	}
	if len(cl.Peers) > 0 && cl.Name == "" {
		bad("cluster.name", "is needed with cluster.peers: this node's name, as the peers name it")
	}
	if cl.PeerTimeout < Duration(time.Second) {
		bad("cluster.peer_timeout", "%s is below 1s", cl.PeerTimeout.D())
	}
	names := map[string]bool{cl.Name: true}
	for i, p := range cl.Peers {
		k := fmt.Sprintf("cluster.peers[%d]", i)
		switch {
		case !validName(p.Name):
			bad(k+".name", "%q must be letters, digits, '-' or '_'", p.Name)
		case p.Name == cl.Name:
			bad(k+".name", "%q is this node's name (cluster.name)", p.Name)
		case names[p.Name]:
			bad(k+".name", "%q is used twice", p.Name)
		}
		names[p.Name] = true
		if err := checkPeerURL(p.URL); err != nil {
			bad(k+".url", "%v", err)
		}
		if p.TokenFile == "" {
			bad(k+".token_file", "is needed: a file holding one of the peer's API tokens")
		} else if err := checkPrivateFile(p.TokenFile); err != nil {
			bad(k+".token_file", "%v", err)
		}
		if p.CAFile != "" {
			if _, err := os.Stat(p.CAFile); err != nil {
				bad(k+".ca_file", "%v", err)
			}
		}
	}
	return ps
}

// checkPeerURL checks a peer's base URL: absolute http or https, without
// credentials, query or fragment.
func checkPeerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("is needed: the peer's API address, like http://10.0.0.2:8514")
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an absolute http or https URL, like http://10.0.0.2:8514", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: no user, query or fragment (the token comes from token_file)", s)
	}
	return nil
}

// checkPrivateFile checks that path exists and that only its owner may
// read it.
func checkPrivateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: mode %#o lets other users read the token; chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}
