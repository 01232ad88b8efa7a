package decision

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func openDir(t *testing.T, c *clock, dir string, ret time.Duration) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Policy: Policy{Enabled: true}, Now: c.Now, Dir: dir, Retention: ret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var allStates = []State{StateActive, StateDryRun, StateExpired, StateDeleted}

// fill adds n ip decisions lasting dur and deletes every third.
func fill(t *testing.T, s *Store, c *clock, n int, dur time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		d, err := s.Add(ctx, Decision{Scope: ScopeIP, Value: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String(),
			Origin: "rule:brute-force-source", Reason: "test " + strconv.Itoa(i), Until: c.Now().Add(dur)})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			if err := s.Delete(ctx, d.ID, "operator:ann"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestReopen(t *testing.T) {
	c := newClock()
	dir := filepath.Join(t.TempDir(), "decisions")
	s := openDir(t, c, dir, 0)
	fill(t, s, c, 30, time.Hour)
	want := s.List(Filter{States: allStates})
	_, _, cursor := s.Changes(0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {filepath.Join(dir, logName), 0o600}} {
		if fi, err := os.Stat(p.path); err != nil || fi.Mode() != p.mode {
			t.Errorf("%s: mode %v (%v), want %v", p.path, fi.Mode(), err, p.mode)
		}
	}
	for round := range 2 { // the second start reads the compacted log
		s2 := openDir(t, c, dir, 0)
		if got := s2.List(Filter{States: allStates}); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: after reopen:\n got %+v\nwant %+v", round, got, want)
		}
		if got := s2.Cursor(); got != cursor {
			t.Errorf("round %d: cursor %d, want %d", round, got, cursor)
		}
		if n := len(s2.Active(c.Now())); n != 20 {
			t.Errorf("round %d: active %d, want 20", round, n)
		}
		s2.Close()
	}
	s3 := openDir(t, c, dir, 0)
	d, err := s3.Add(context.Background(), Decision{Scope: ScopeUser, Value: "mallory", Origin: "operator:ann", Until: c.Now().Add(time.Hour)})
	if err != nil || d.ID != 31 {
		t.Errorf("add after reopen: id %d, %v; want 31", d.ID, err)
	}
}

func TestTornAndBadLines(t *testing.T) {
	tests := []struct {
		name    string
		garbage string // written after the valid records
		skipped float64
	}{
		{"torn last line", `{"op":"add","seq":99,"d":{"id":99,"sco`, 1},
		{"torn complete-looking line", `{"op":"del","seq":99,"id":1}`, 1}, // no newline: not synced whole
		{"bad line then good", "not json\n" + `{"op":"del","seq":99,"id":2,"at":"2031-05-04T10:00:00Z","by":"x"}` + "\n", 1},
		{"unknown op", `{"op":"frobnicate","seq":99}` + "\n", 1},
		{"delete of unknown", `{"op":"del","seq":99,"id":1234}` + "\n", 1},
		{"blank lines", "\n\n", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			dir := t.TempDir()
			s := openDir(t, c, dir, 0)
			fill(t, s, c, 2, time.Hour)
			s.Close()
			f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tc.garbage)
			f.Close()

			s2 := openDir(t, c, dir, 0)
			if got := testutil.ToFloat64(s2.m.skipped); got != tc.skipped {
				t.Errorf("skipped = %v, want %v", got, tc.skipped)
			}
			wantActive := 2
			if strings.Contains(tc.garbage, `"id":2,"at"`) {
				wantActive = 1 // the good line after the bad one counts
			}
			if n := len(s2.Active(c.Now())); n != wantActive {
				t.Errorf("active = %d, want %d", n, wantActive)
			}
			if _, err := s2.Add(context.Background(), Decision{Scope: ScopeIP, Value: "192.0.2.1", Origin: "operator:ann", Until: c.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			s2.Close()
			s3 := openDir(t, c, dir, 0)
			if got := testutil.ToFloat64(s3.m.skipped); got != 0 {
				t.Errorf("skipped at the next start = %v, want 0", got)
			}
			if n := len(s3.Active(c.Now())); n != wantActive+1 {
				t.Errorf("active at the next start = %d, want %d", n, wantActive+1)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	s := openDir(t, c, dir, 24*time.Hour)
	fill(t, s, c, 6, time.Hour)    // ids 1-6: end within the hour (3, 6 deleted now)
	fill(t, s, c, 3, 72*time.Hour) // ids 7-9: 9 deleted now
	_, _, cursor := s.Changes(0)
	s.Close()
	c.Advance(25*time.Hour + time.Minute)
	s2 := openDir(t, c, dir, 24*time.Hour)
	if got := ids(s2.List(Filter{States: allStates})); got != "8,7" {
		t.Errorf("held after retention = %s, want 8,7", got)
	}
	if got := testutil.ToFloat64(s2.m.compacted); got != 7 {
		t.Errorf("dropped = %v, want 7", got)
	}
	if got := s2.Cursor(); got != cursor {
		t.Errorf("cursor %d, want %d", got, cursor)
	}
	s2.Close()
	// IDs are not reused even when the highest was dropped.
	c.Advance(72 * time.Hour)
	s3 := openDir(t, c, dir, 24*time.Hour)
	if n := len(s3.List(Filter{States: allStates})); n != 0 {
		t.Errorf("held = %d, want 0", n)
	}
	d, err := s3.Add(context.Background(), Decision{Scope: ScopeIP, Value: "192.0.2.1", Origin: "operator:ann", Until: c.Now().Add(time.Hour)})
	if err != nil || d.ID != 10 {
		t.Errorf("add: id %d, %v; want 10", d.ID, err)
	}
	if added, _, cur := s3.Changes(cursor); len(added) != 1 || cur != cursor+1 {
		t.Errorf("Changes(%d) = %d added, cursor %d", cursor, len(added), cur)
	}
}

func TestCompactionWhileRunning(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	s := openDir(t, c, dir, time.Hour)
	s.minCompact = 100
	for range 5 {
		fill(t, s, c, 250, time.Minute)
		c.Advance(2 * time.Hour)
	}
	if got := testutil.ToFloat64(s.m.compactions); got < 2 {
		t.Errorf("compactions = %v, want at least 2 (one at open, one on the way)", got)
	}
	held := len(s.List(Filter{States: allStates}))
	if held >= 5*250 {
		t.Errorf("held %d: nothing dropped", held)
	}
	s.Close()
	s2 := openDir(t, c, dir, time.Hour)
	if n := len(s2.List(Filter{States: allStates})); n > held {
		t.Errorf("after reopen %d held, before %d", n, held)
	}
}

// Environment of the crash test's child process.
const (
	crashDirEnv   = "VIGIL_DECISION_CRASH_DIR"
	crashRoundEnv = "VIGIL_DECISION_CRASH_ROUND"
	crashWriters  = 4
	crashMinAcked = 1500 // acknowledged adds per round before the kill
	crashRounds   = 3
)

// TestCrashChild is the child of TestCrash: it adds decisions from several
// goroutines, deleting every fourth, and prints "a <id>" after each Add
// and "d <id>" after each Delete returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	c := newClock()
	c.Advance(time.Duration(round) * time.Minute)
	s, err := Open(context.Background(), Options{Policy: Policy{Enabled: true}, Now: c.Now, Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	say := func(op string, id int64) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, "%s %d\n", op, id)
		mu.Unlock()
	}
	for w := range crashWriters {
		go func() {
			for i := 0; ; i++ {
				v := fmt.Sprintf("r%dw%di%d", round, w, i)
				d, err := s.Add(context.Background(), Decision{Scope: ScopeUser, Value: v, Origin: "operator:crash", Until: c.Now().Add(time.Hour)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "add:", err)
					os.Exit(4)
				}
				say("a", d.ID)
				if i%4 == 3 {
					if err := s.Delete(context.Background(), d.ID, "crash"); err != nil {
						fmt.Fprintln(os.Stderr, "delete:", err)
						os.Exit(5)
					}
					say("d", d.ID)
				}
			}
		}()
	}
	select {} // until killed
}

// TestCrash kills (SIGKILL) a child process that adds and deletes
// decisions concurrently, several times, and checks after each kill that
// every acknowledged add and delete survived, that IDs are never reused
// and that the store keeps working.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	added := map[int64]bool{}   // acknowledged adds
	deleted := map[int64]bool{} // acknowledged deletes
	var lastMax int64
	for round := range crashRounds {
		runCrashChild(t, dir, round, added, deleted)
		c := newClock()
		c.Advance(time.Duration(round) * time.Minute)
		s := openDir(t, c, dir, 0)
		held := map[int64]Decision{}
		var maxID int64
		for _, d := range s.List(Filter{States: allStates}) {
			held[d.ID] = d
			maxID = max(maxID, d.ID)
		}
		for id := range added {
			d, ok := held[id]
			if !ok {
				t.Fatalf("round %d: acknowledged decision %d lost", round, id)
			}
			if deleted[id] && d.Deleted.IsZero() {
				t.Fatalf("round %d: acknowledged deletion of %d lost", round, id)
			}
		}
		if maxID <= lastMax {
			t.Fatalf("round %d: highest id %d, previous round %d", round, maxID, lastMax)
		}
		lastMax = maxID
		t.Logf("round %d: %d held, %d adds and %d deletes acknowledged, %v lines skipped, %v compactions",
			round, len(held), len(added), len(deleted), testutil.ToFloat64(s.m.skipped), testutil.ToFloat64(s.m.compactions))
		s.Close()
	}
}

func runCrashChild(t *testing.T, dir string, round int, added, deleted map[int64]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(out)
	acks, killed := 0, false
	for sc.Scan() {
		op, num, ok := strings.Cut(sc.Text(), " ")
		id, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			continue // test framework output
		}
		switch op {
		case "a":
			added[id] = true
			acks++
		case "d":
			deleted[id] = true
		}
		if !killed && acks >= crashMinAcked {
			cmd.Process.Kill() // SIGKILL; keep reading what it printed before
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child exited early after %d adds; stderr:\n%s", round, acks, stderr.String())
	}
}
