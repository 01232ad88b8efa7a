package journal

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment of the crash test's child process.
const (
	crashDirEnv    = "VIGIL_JOURNAL_CRASH_DIR"
	crashFsyncEnv  = "VIGIL_JOURNAL_CRASH_FSYNC"
	crashRoundEnv  = "VIGIL_JOURNAL_CRASH_ROUND"
	crashWriters   = 3
	crashSegSize   = 64 << 10
	crashMinAcked  = 10000 // the parent kills the child after this many acknowledged records
	crashRounds    = 3
	crashDataBytes = 200
)

// TestCrashChild is the child process of TestCrash: it appends forever from
// several goroutines and prints "<last seq>" after each Append returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	round := os.Getenv(crashRoundEnv)
	j, err := Open(dir, Options{SegmentSize: crashSegSize, Fsync: FsyncPolicy(os.Getenv(crashFsyncEnv)),
		FsyncInterval: 2 * time.Millisecond, Compress: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex // one line per write
	for w := range crashWriters {
		go func() {
			for i := 0; ; {
				recs := mkRecs(fmt.Sprintf("r%sw%d", round, w), i, 1+i%17, crashDataBytes)
				if err := j.Append(recs); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(4)
				}
				i += len(recs)
				line := strconv.AppendUint(nil, recs[len(recs)-1].Seq, 10)
				mu.Lock()
				os.Stdout.Write(append(line, '\n'))
				mu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// TestCrash kills (SIGKILL) a child process that appends concurrently and
// checks that every record whose Append returned survives, that the seqs
// have no gaps but recorded skips, and that the journal continues after each crash.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, policy := range []FsyncPolicy{FsyncInterval, FsyncAlways, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			var acked uint64
			for round := range crashRounds {
				acked = max(acked, runCrashChild(t, dir, policy, round))
				j, err := Open(dir, Options{SegmentSize: crashSegSize})
				if err != nil {
					t.Fatalf("round %d: reopen: %v", round, err)
				}
				next := j.NextSeq()
				if next <= acked {
					t.Fatalf("round %d: NextSeq %d but seq %d was acknowledged", round, next, acked)
				}
				checkCrashJournal(t, j, round)
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
				tails, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*"))
				t.Logf("round %d: %d records, last acknowledged %d, %d torn tails cut so far", round, next-1, acked, len(tails))
			}
		})
	}
}

// runCrashChild runs the child until it acknowledged crashMinAcked records,
// kills it and returns the highest seq it acknowledged.
func runCrashChild(t *testing.T, dir string, policy FsyncPolicy, round int) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashFsyncEnv+"="+string(policy),
		crashRoundEnv+"="+strconv.Itoa(round))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked uint64
	lines := 0
	killed := false
	deadline := time.AfterFunc(2*waitLong, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		seq, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			continue // test framework output
		}
		acked = max(acked, seq)
		lines++
		if !killed && lines >= crashMinAcked/5 && acked >= uint64(round+1)*crashMinAcked {
			cmd.Process.Kill() // SIGKILL; keep reading what it printed before
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child exited early after %d lines; stderr:\n%s", round, lines, stderr.String())
	}
	return acked
}

// checkCrashJournal reads the whole journal: seqs from 1 without gaps
// other than those the journal recorded as skipped, and each writer's
// records (per round) in order without gaps.
func checkCrashJournal(t *testing.T, j *Journal, round int) {
	t.Helper()
	r, err := j.ReaderAt(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	next := map[string]int{}
	seq := uint64(1)
	var buf []Record
	// A torn tail (a write cut short by the kill) makes numbering jump
	// past the reservation: the skipped numbers are recorded.
	for seq < j.NextSeq() && !j.skipped(seq, j.NextSeq()) {
		buf, err = r.Next(ctx, buf, 1000)
		if err != nil {
			t.Fatalf("round %d: Next at %d: %v", round, seq, err)
		}
		for _, rec := range buf {
			if rec.Seq != seq && j.skipped(seq, rec.Seq) {
				seq = rec.Seq
			}
			if rec.Seq != seq {
				t.Fatalf("round %d: seq %d, want %d", round, rec.Seq, seq)
			}
			seq++
			stream, idx, ok := strings.Cut(string(rec.Data), "/")
			i, err := strconv.Atoi(strings.SplitN(idx, "|", 2)[0])
			if !ok || err != nil || len(rec.Data) != crashDataBytes {
				t.Fatalf("round %d: seq %d: bad data %q", round, rec.Seq, rec.Data)
			}
			if i != next[stream] {
				t.Fatalf("round %d: seq %d: stream %s record %d, want %d", round, rec.Seq, stream, i, next[stream])
			}
			next[stream]++
		}
	}
}
