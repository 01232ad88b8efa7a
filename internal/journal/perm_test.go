//go:build unix

package journal

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPrivateModes: the journal holds messages as received (passwords
// typed into the wrong field included), so everything it creates is for
// its own user only: directories 0700, files 0600, even under a umask that
// would allow more.
func TestPrivateModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "journal")
	j := openJ(t, dir, Options{SegmentSize: 8 << 10, Compress: true, maintainEvery: never})
	appendN(t, j, "p", 200, 10, 200) // several segments
	r, err := j.OpenReader("indexer")
	if err != nil {
		t.Fatal(err)
	}
	readN(t, r, 10)
	if err := r.Commit(r.Position()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	j.maintain() // compresses the sealed segments
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn tail is saved under corrupt/ at the next Open.
	seg := walPath(dir, j.NextSeq()-1)
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.wal")); len(segs) > 0 {
		seg = segs[len(segs)-1]
	}
	appendBytes(t, seg, []byte("torn\x00\xff"))
	openJ(t, dir, Options{}).Close()

	kinds := map[string]bool{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
		rel, _ := filepath.Rel(dir, path)
		kinds[filepath.Dir(rel)+"/"+filepath.Ext(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every kind of path was there to check.
	for _, k := range []string{"./", "./.wal", "./.zst", "cursors/", "corrupt/.tail"} {
		if !kinds[k] {
			t.Errorf("no %q path created; have %v", k, kinds)
		}
	}
}
