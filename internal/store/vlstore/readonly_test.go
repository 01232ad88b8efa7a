package vlstore

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/testfs"
)

func rowsAt(now time.Time, from, n int) []store.Row {
	rows := make([]store.Row, n)
	for i := range rows {
		rows[i] = store.Row{Time: now.Add(-time.Minute), Fields: []store.Field{
			{Name: "_msg", Value: "readonly test"},
			{Name: "vigil.input", Value: "syslog"},
			{Name: "vigil.seq", Value: strconv.Itoa(from + i)},
		}}
	}
	return rows
}

// TestReadOnly: below MinFreeDiskBytes Add refuses rows with ErrReadOnly
// (the indexer retries them from the journal), the read-only state shows
// in Stats and the metrics, and search keeps working.
func TestReadOnly(t *testing.T) {
	now := time.Now()
	reg := prometheus.NewRegistry()
	st, err := Open(Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour, MinFreeDiskBytes: 1 << 62,
		StreamFields: []string{"vigil.input"}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Add(rowsAt(now, 1, 10)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Add with more MinFreeDiskBytes than the disk has: %v, want ErrReadOnly", err)
	}
	if !st.Stats().ReadOnly {
		t.Error("Stats().ReadOnly is false")
	}
	if n, err := testutil.GatherAndCount(reg, "vigil_store_read_only"); err != nil || n != 1 {
		t.Fatalf("vigil_store_read_only: %d series, %v", n, err)
	}
	if rows := search(t, st, store.Query{Text: "*"}); len(rows) != 0 {
		t.Errorf("search of a read-only store: %d rows, want 0", len(rows))
	}
}

// TestReadOnlyRealDisk fills a small file system below MinFreeDiskBytes
// and frees it again: the store refuses rows while it is short of space
// and accepts them again afterwards, by itself.
func TestReadOnlyRealDisk(t *testing.T) {
	mnt := testfs.Mount(t, 64<<20)
	now := time.Now()
	st, err := Open(Config{Path: filepath.Join(mnt, "store"), Retention: 7 * 24 * time.Hour,
		MinFreeDiskBytes: 16 << 20, StreamFields: []string{"vigil.input"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Add(rowsAt(now, 1, 10)); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	filler := filepath.Join(mnt, "filler")
	testfs.Fill(t, filler, 8<<20)
	// The engine caches the free space for up to 2 seconds.
	waitReadOnly(t, st, true)
	if err := st.Add(rowsAt(now, 11, 10)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Add with 8 MiB free and MinFreeDiskBytes 16 MiB: %v, want ErrReadOnly", err)
	}
	if !st.Stats().ReadOnly {
		t.Error("Stats().ReadOnly is false with the disk short of space")
	}
	if rows := search(t, st, store.Query{Text: "*"}); len(rows) != 10 {
		t.Errorf("search while read-only: %d rows, want 10", len(rows))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReadOnly(t, st, false)
	if err := st.Add(rowsAt(now, 11, 10)); err != nil {
		t.Fatalf("Add after space returned: %v", err)
	}
	st.Flush()
	if rows := search(t, st, store.Query{Text: "*"}); len(rows) != 20 {
		t.Errorf("search after space returned: %d rows, want 20", len(rows))
	}
}

// waitReadOnly polls until an empty Add says whether the store is
// read-only as wanted.
func waitReadOnly(t *testing.T, st *Store, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := st.Add(nil)
		if errors.Is(err, ErrReadOnly) == want {
			return
		}
		if err != nil && !errors.Is(err, ErrReadOnly) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("store read-only is not %v after 30s", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
