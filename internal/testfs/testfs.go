// Package testfs gives tests small real file systems to fill up: a tmpfs
// of a chosen size, mounted for one test, and a filler file that leaves a
// chosen amount of free space. Mounting needs root (or CAP_SYS_ADMIN);
// without it the test is skipped, or fails when VIGIL_TEST_STRICT is set.
package testfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; it is unmounted when the test ends.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := mount(dir, size); err != nil {
		msg := fmt.Sprintf("cannot mount a %d-byte tmpfs (needs root): %v", size, err)
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatal(msg + "; failing because VIGIL_TEST_STRICT is set")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := unmount(dir); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes the file path until the file system holding it has at most
// leave bytes free (as statfs reports them to unprivileged users) and
// returns the file's size.
func Fill(t testing.TB, path string, leave int64) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		free, err := Free(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if free <= leave {
			break
		}
		n := min(int64(len(buf)), free-leave)
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
