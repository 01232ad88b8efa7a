package memlimit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const mib = 1 << 20

func TestLimit(t *testing.T) {
	tests := []struct {
		name         string
		target, live uint64
		want         uint64
	}{
		{"nothing live yet", 384 * mib, 0, 384 * mib},
		{"live well under the target", 384 * mib, 100 * mib, 384 * mib},
		{"live and half of it just fit", 384 * mib, 256 * mib, 384 * mib},
		{"live needs more room", 384 * mib, 300 * mib, 450 * mib},
		{"live above the target", 384 * mib, 1024 * mib, 1536 * mib},
	}
	for _, tt := range tests {
		if got := Limit(tt.target, tt.live); got != tt.want {
			t.Errorf("%s: Limit(%d MiB, %d MiB) = %d MiB, want %d MiB", tt.name, tt.target/mib, tt.live/mib, got/mib, tt.want/mib)
		}
	}
}

// fake is a governor whose live heap and clock the test sets and whose
// limits it records.
func fake(t *testing.T, target uint64, logs *bytes.Buffer) (*Governor, *uint64, *time.Time, *[]int64) {
	t.Setenv("GOMEMLIMIT", "") // New steps aside for one in the environment
	live := new(uint64)
	now := new(time.Time)
	*now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var set []int64
	g := New(target, slog.New(slog.NewTextHandler(logs, nil)))
	g.live = func() uint64 { return *live }
	g.now = func() time.Time { return *now }
	g.set = func(v int64) int64 { set = append(set, v); return math.MaxInt64 }
	return g, live, now, &set
}

// TestUpdateFollowsLiveHeap: the limit is the target until the live heap
// needs more, follows it then, comes back to the target; the runtime is only
// called when the limit changes; the limit going above the target is
// warned about at most once an hour.
func TestUpdateFollowsLiveHeap(t *testing.T) {
	var logs bytes.Buffer
	g, live, now, set := fake(t, 384*mib, &logs)
	steps := []struct {
		live  uint64
		after time.Duration // since the step before
		want  []int64       // the calls of set after this step
		warns int           // warnings so far
	}{
		{50 * mib, 0, []int64{384 * mib}, 0},
		{200 * mib, time.Second, []int64{384 * mib}, 0},
		{400 * mib, time.Second, []int64{384 * mib, 600 * mib}, 1},
		{400 * mib, time.Second, []int64{384 * mib, 600 * mib}, 1},
		{500 * mib, time.Second, []int64{384 * mib, 600 * mib, 750 * mib}, 1},
		{100 * mib, time.Second, []int64{384 * mib, 600 * mib, 750 * mib, 384 * mib}, 1},
		{300 * mib, 30 * time.Minute, []int64{384 * mib, 600 * mib, 750 * mib, 384 * mib, 450 * mib}, 1},
		{300 * mib, 30 * time.Minute, []int64{384 * mib, 600 * mib, 750 * mib, 384 * mib, 450 * mib}, 2},
	}
	for i, st := range steps {
		*live = st.live
		*now = now.Add(st.after)
		g.update()
		if !slices.Equal(*set, st.want) {
			t.Fatalf("step %d (live %d MiB): limits set %v, want %v", i, st.live/mib, *set, st.want)
		}
		want := fmt.Sprintf("# HELP vigil_memory_soft_limit_bytes %s\n# TYPE vigil_memory_soft_limit_bytes gauge\nvigil_memory_soft_limit_bytes %d\n",
			helpLimit, st.want[len(st.want)-1])
		if err := testutil.CollectAndCompare(g, strings.NewReader(want), "vigil_memory_soft_limit_bytes"); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n := strings.Count(logs.String(), "the live heap needs more than memory_target"); n != st.warns {
			t.Fatalf("step %d: %d warnings, want %d:\n%s", i, n, st.warns, logs.String())
		}
	}
}

// TestRunSetsRuntimeLimit runs the governor against the real runtime: the
// target is in force while it runs and the previous limit is back after.
func TestRunSetsRuntimeLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // New steps aside for one in the environment
	before := debug.SetMemoryLimit(-1)
	g := New(512*mib, slog.New(slog.DiscardHandler))
	var inForce []int64
	real := g.set
	g.set = func(v int64) int64 {
		prev := real(v)
		if v >= 0 {
			inForce = append(inForce, real(-1))
		}
		return prev
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run applies the limit once, sees ctx done, restores
	g.Run(ctx)
	if len(inForce) != 2 || inForce[0] < 512*mib || inForce[1] != before {
		t.Fatalf("limits in force %v, want the target (or more, for this test's live heap) then %d", inForce, before)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("after Run the runtime limit is %d, want %d", got, before)
	}
	want := fmt.Sprintf("# HELP vigil_memory_target_bytes %s\n# TYPE vigil_memory_target_bytes gauge\nvigil_memory_target_bytes %d\n",
		helpTarget, 512*mib)
	if err := testutil.CollectAndCompare(g, strings.NewReader(want), "vigil_memory_target_bytes"); err != nil {
		t.Fatal(err)
	}
}

func TestNewOff(t *testing.T) {
	if g := New(0, slog.New(slog.DiscardHandler)); g != nil {
		t.Fatal("target 0 must leave the runtime alone")
	}
	var logs bytes.Buffer
	t.Setenv("GOMEMLIMIT", "1GiB")
	if g := New(384*mib, slog.New(slog.NewTextHandler(&logs, nil))); g != nil {
		t.Fatal("GOMEMLIMIT in the environment must win")
	}
	if !strings.Contains(logs.String(), "GOMEMLIMIT is set") {
		t.Fatalf("want a log line saying why, got %q", logs.String())
	}
}
