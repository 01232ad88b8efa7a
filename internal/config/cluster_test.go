package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCluster(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	open := filepath.Join(dir, "open")
	for p, mode := range map[string]os.FileMode{private: 0o600, open: 0o644} {
		if err := os.WriteFile(p, []byte("0123456789abcdef0123\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	peer := func(extra string) string {
		return "cluster:\n  name: a\n  peers:\n    - {name: b, url: 'http://127.0.0.1:1', token_file: " + private + extra + "}\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"valid", peer(""), ""},
		{"name alone", "cluster:\n  name: a\n", ""},
		{"no name with peers", "cluster:\n  peers:\n    - {name: b, url: 'http://h:1', token_file: " + private + "}\n", "line 1: cluster.name: is needed with cluster.peers"},
		{"bad name", "cluster:\n  name: 'a b'\n", `line 2: cluster.name: "a b" must be letters`},
		{"peer is this node", "cluster:\n  name: b\n  peers:\n    - {name: b, url: 'http://h:1', token_file: " + private + "}\n", `line 4: cluster.peers[0].name: "b" is this node's name`},
		{"peer twice", "cluster:\n  name: a\n  peers:\n    - {name: b, url: 'http://h:1', token_file: " + private + "}\n    - {name: b, url: 'http://h:2', token_file: " + private + "}\n", `line 5: cluster.peers[1].name: "b" is used twice`},
		{"url scheme", "cluster:\n  name: a\n  peers:\n    - {name: b, url: 'h:1', token_file: " + private + "}\n", `line 4: cluster.peers[0].url: "h:1": want an absolute http or https URL`},
		{"url with user", "cluster:\n  name: a\n  peers:\n    - {name: b, url: 'http://u:p@h:1', token_file: " + private + "}\n", `line 4: cluster.peers[0].url: "http://u:p@h:1": no user, query or fragment`},
		{"no token file", "cluster:\n  name: a\n  peers:\n    - {name: b, url: 'http://h:1'}\n", "line 4: cluster.peers[0].token_file: is needed"},
		{"token file readable by others", "cluster:\n  name: a\n  peers:\n    - {name: b, url: 'http://h:1', token_file: " + open + "}\n", "line 4: cluster.peers[0].token_file: " + open + ": mode 0644 lets other users read the token; chmod 600"},
		{"missing ca file", peer(", ca_file: " + filepath.Join(dir, "none")), "line 4: cluster.peers[0].ca_file: stat "},
		{"short timeout", "cluster:\n  peer_timeout: 100ms\n", "line 2: cluster.peer_timeout: 100ms is below 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseYAML([]byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Cluster.PeerTimeout.D() != defaultPeerTimeout {
					t.Errorf("peer_timeout %s, want the default", cfg.Cluster.PeerTimeout.D())
				}
				return
			}
			ps, ok := asProblems(err)
			if !ok || len(ps) != 1 || !strings.HasPrefix(ps[0].String(), tt.want) {
				t.Fatalf("got\n%v\nwant one problem starting with\n%s", err, tt.want)
			}
		})
	}
}
