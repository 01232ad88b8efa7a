//go:build unix

package vlstore

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDirPrivate: the store's directory is 0700 whatever the umask; the
// engine makes its own files inside world-readable, and this directory is
// what keeps other users out of them.
func TestDirPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "store")
	open(t, dir, time.Now()).Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("store directory mode %#o, want 0700", fi.Mode().Perm())
	}
}
