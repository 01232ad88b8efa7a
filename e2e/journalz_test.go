package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestCompressedArchiveExact: the journal's compressed segments are the raw
// archive too. Messages (some with bytes that are not UTF-8) fill several
// 1 MiB segments; after a restart the sealed ones are compressed in the
// compact form at the configured level, and vigil journal cat gives back
// every message byte for byte.
func TestCompressedArchiveExact(t *testing.T) {
	t.Parallel()
	const n = 20000
	opts := vigilOpts{httpPort: freePort(t), syslogPort: freePort(t), config: `
journal:
  segment_size: 1MiB
  compress_level: default
`}
	v := startVigil(t, opts)
	opts.dataDir = v.dataDir
	tok := token("jz")
	var sent bytes.Buffer
	for i := range n {
		fmt.Fprintf(&sent, `<190>Dec  6 09:00:%02d proxy nginx: {"ip":"10.0.%d.%d","statuscode":%d,"request_uri":"/owa/%d","user":"%s-%d"}`,
			i%60, i%256, i*7%256, 200+i%4*100, i*31%1000, tok, i)
		if i%1000 == 7 {
			sent.WriteString(" \xff\xfe latin-1 caf\xe9")
		}
		sent.WriteByte('\n')
	}
	sendTCP(t, v.syslogAddr, sent.Bytes())
	v.waitMetric(t, "vigil_store_rows", n)
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	jdir := filepath.Join(v.dataDir, "journal")
	wals, _ := filepath.Glob(filepath.Join(jdir, "*.wal"))
	if len(wals) < 3 {
		t.Fatalf("%d segments, want several sealed ones", len(wals))
	}

	// At start the journal compresses the sealed segments every consumer
	// has passed: after the clean stop, all of them.
	v = startVigil(t, opts)
	var zsts []string
	deadline := time.Now().Add(waitTimeout)
	for len(zsts) < len(wals)-1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sealed segments compressed within %s", len(zsts), len(wals)-1, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
		zsts, _ = filepath.Glob(filepath.Join(jdir, "*.wal.zst"))
	}
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	var zsize int64
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, z := range zsts {
		b, err := os.ReadFile(z)
		if err != nil {
			t.Fatal(err)
		}
		zsize += int64(len(b))
		plain, err := dec.DecodeAll(b, nil)
		if err != nil || !bytes.HasPrefix(plain, []byte("VJC1")) {
			t.Fatalf("%s: not a zstd stream of the compact form (%v)", filepath.Base(z), err)
		}
	}
	t.Logf("%d sealed segments compressed to %d bytes", len(zsts), zsize)

	out, stderr, code := runVigil(t, "journal", "cat", "--data", v.dataDir)
	if code != 0 {
		t.Fatalf("vigil journal cat: exit %d: %s", code, stderr)
	}
	if !bytes.Equal([]byte(out), sent.Bytes()) {
		t.Fatalf("vigil journal cat printed %d bytes that differ from the %d sent", len(out), sent.Len())
	}
}
