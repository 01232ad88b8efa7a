package kafka

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// needKcat returns the path of the real kcat binary. Without it the test is
// skipped, or fails when VIGIL_TEST_STRICT is set (CI installs it with
// scripts/install-test-deps.sh).
func needKcat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		msg := "kcat not installed (apt-get install kcat, or run scripts/install-test-deps.sh)"
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatal(msg + "; VIGIL_TEST_STRICT is set")
		}
		t.Skip(msg)
	}
	return p
}

// kcatInput starts a kfake cluster and a running input on topic "logs" and
// returns the broker address and the input's appender.
func kcatInput(t *testing.T) (string, *memAppender) {
	_, addr := newCluster(t, 3, "logs")
	app := &memAppender{}
	in, err := New(Config{Name: "kafka", Brokers: []string{addr}, Topics: []string{"logs"}}, app, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runInput(t, in)
	return addr, app
}

// checkLines waits until app holds every line of want once and nothing
// else.
func checkLines(t *testing.T, app *memAppender, want []string) {
	t.Helper()
	waitFor(t, "every line", func() bool { return app.len() >= len(want) })
	time.Sleep(100 * time.Millisecond) // let a stray extra record show up
	got := app.counts()
	wb := make([][]byte, len(want))
	for i, w := range want {
		wb[i] = []byte(w)
	}
	if app.len() != len(want) {
		t.Fatalf("got %d records, want %d: %s", app.len(), len(want), describe(wb, got))
	}
	for _, w := range want {
		if got[w] != 1 {
			t.Fatalf("line %.80q: got %d times: %s", w, got[w], describe(wb, got))
		}
	}
	for _, r := range app.recs {
		if r.Input != "kafka" || !strings.HasPrefix(r.Peer, "kafka://logs/") || r.Flags != 0 {
			t.Fatalf("bad record fields: input %q peer %q flags %d", r.Input, r.Peer, r.Flags)
		}
	}
}

// TestKcatPrintf is the shape from the issue:
// printf 'a\nb\n' | kcat -P -b ADDR -t topic, with each compression codec.
func TestKcatPrintf(t *testing.T) {
	kcat := needKcat(t)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			addr, app := kcatInput(t)
			cmd := exec.Command("sh", "-c", `printf 'a\nb\n{"k":"v"}\n' | "$KCAT" -P -b "$ADDR" -t logs -z "$CODEC"`)
			cmd.Env = append(os.Environ(), "KCAT="+kcat, "ADDR="+addr, "CODEC="+codec)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat: %v: %s", err, out)
			}
			checkLines(t, app, []string{"a", "b", `{"k":"v"}`})
		})
	}
}

// TestKcatTailFollow feeds kcat from tail -F on a growing file while the
// input runs, as an operator would ship a log file: every line arrives
// exactly as written.
func TestKcatTailFollow(t *testing.T) {
	kcat := needKcat(t)
	fixture, err := os.ReadFile("testdata/lines.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(fixture), "\n"), "\n")
	big := strings.Repeat("0123456789abcdef", 200<<10/16) // a 200 KiB line
	want = append(want, big)
	for i := range 2000 {
		want = append(want, "bulk line "+strings.Repeat("x", i%50)+" #"+strconv.Itoa(i))
	}

	addr, app := kcatInput(t)
	file := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tail := exec.CommandContext(ctx, "tail", "-n", "+1", "-F", file)
	kc := exec.CommandContext(ctx, kcat, "-P", "-b", addr, "-t", "logs")
	// tail's output goes to kcat through this process, which counts the
	// bytes so the test knows when tail has passed the whole file on.
	tailOut, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	kcatIn, err := kc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var kout bytes.Buffer
	kc.Stdout, kc.Stderr = &kout, &kout
	if err := kc.Start(); err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	var passed atomic.Int64
	copied := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := tailOut.Read(buf)
			if n > 0 {
				if _, werr := kcatIn.Write(buf[:n]); werr != nil {
					copied <- werr
					return
				}
				passed.Add(int64(n))
			}
			if err != nil {
				copied <- kcatIn.Close()
				return
			}
		}
	}()

	// Write in pieces, the way a log grows.
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for i := 0; i < len(want); i += 500 {
		var b strings.Builder
		for _, l := range want[i:min(i+500, len(want))] {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		n, err := f.WriteString(b.String())
		if err != nil {
			t.Fatal(err)
		}
		size += int64(n)
	}
	f.Close()
	// tail -F never ends: once it has passed every byte on, stop it so that
	// kcat sees EOF and sends the lines it holds back.
	waitFor(t, "tail to pass the file on", func() bool { return passed.Load() == size })
	tail.Process.Signal(syscall.SIGTERM)
	if err := <-copied; err != nil {
		t.Fatalf("pipe to kcat: %v", err)
	}
	tail.Wait()
	if err := kc.Wait(); err != nil {
		t.Fatalf("kcat: %v: %s", err, kout.String())
	}
	checkLines(t, app, want)
}
