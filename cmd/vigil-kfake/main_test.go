package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// startRun runs the command with args and returns the address it reports and
// a function that stops it and returns run's error.
func startRun(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(io.EOF)
		errc <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no READY line: %v (run: %v)", err, <-errc)
	}
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if !ok {
		t.Fatalf("first line %q, want READY addr", line)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(30 * time.Second):
				t.Error("run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

func TestRunSeedsTopics(t *testing.T) {
	addr, stop := startRun(t, "-addr", "127.0.0.1:0", "-topics", "t1, t2", "-partitions", "4")
	// No auto topic creation here: the topics must exist already.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProduceRequestTimeout(10*time.Second), kgo.RecordDeliveryTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	for _, topic := range []string{"t1", "t2"} {
		parts := map[int32]bool{}
		for range 8 {
			r := &kgo.Record{Topic: topic, Value: []byte("x")}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
			parts[r.Partition] = true
		}
		if len(parts) != 4 {
			t.Errorf("topic %s: records went to partitions %v, want 4 partitions", topic, parts)
		}
	}
	cl.Close()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "nohostport"},
		{"-addr", "127.0.0.1:99999"},
		{"-partitions", "0"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestKcat produces with the real kcat and consumes the lines back with it.
func TestKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatal("kcat not installed; VIGIL_TEST_STRICT is set")
		}
		t.Skip("kcat not installed (apt-get install kcat, or run scripts/install-test-deps.sh)")
	}
	addr, _ := startRun(t, "-topics", "logs", "-partitions", "1")
	p := exec.Command(kcat, "-P", "-b", addr, "-t", "logs")
	p.Stdin = strings.NewReader("a\nb\n{\"k\":\"v\"}\n")
	if out, err := p.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v: %s", err, out)
	}
	c := exec.Command(kcat, "-C", "-b", addr, "-t", "logs", "-o", "beginning", "-e", "-q")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if want := []string{"a", "b", `{"k":"v"}`}; !slices.Equal(got, want) {
		t.Fatalf("kcat consumed %q, want %q", got, want)
	}
}
