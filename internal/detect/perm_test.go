//go:build unix

package detect

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// TestCheckpointPrivate: the detector's directory is 0700 and its
// checkpoint 0600 (it holds user names, addresses and captured lines),
// whatever the umask.
func TestCheckpointPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "detect")
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 5\n")}}
	d, err := NewDetector(DetectorOptions{Dir: dir, Builtin: builtin, CheckpointEvery: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Process(context.Background(), failures(10, 3, "203.0.113.1", t0))
	d.Flush(context.Background())
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, stateFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
	}
}
