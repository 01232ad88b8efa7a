package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vigil-soc/vigil/internal/config"
)

// privatePaths returns the paths of cfg's data that only Vigil's user may
// access: the data directory, the journal's, store's and detector's
// directories under it, and the token file. Vigil creates directories 0700
// and files 0600; paths made before, or by hand, may be looser.
func privatePaths(cfg config.Config) []string {
	d := cfg.DataDir
	paths := []string{d, filepath.Join(d, "journal"), filepath.Join(d, "journal", "cursors"),
		filepath.Join(d, "journal", "corrupt"), filepath.Join(d, "alerts"), filepath.Join(d, "alerts", "cursors"),
		filepath.Join(d, "store"), filepath.Join(d, "detect"), filepath.Join(d, "decisions"), filepath.Join(d, "decisions", "decisions.log")}
	if len(cfg.HTTP.Tokens) == 0 {
		paths = append(paths, tokenPath(cfg))
	}
	return paths
}

// tokenPath is the file of the generated API token.
func tokenPath(cfg config.Config) string {
	if cfg.HTTP.TokenFile != "" {
		return cfg.HTTP.TokenFile
	}
	return filepath.Join(cfg.DataDir, tokenFileName)
}

// warnLoosePerms logs one warning for each path that exists and that the
// group or other users may access, with the command that fixes it. The
// journal holds every message as received, passwords that users typed
// into the wrong field included.
func warnLoosePerms(log *slog.Logger, paths []string) {
	if runtime.GOOS == "windows" {
		return // modes mean nothing there
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		want := "600"
		if fi.IsDir() {
			want = "700"
		}
		log.Warn("data path is open to other users: it holds raw logs or secrets", "path", p,
			"mode", fmt.Sprintf("%#o", fi.Mode().Perm()), "fix", "chmod "+want+" "+p)
	}
}
