package output

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/charset"
)

// receiver is a TCP syslog receiver (newline framing) that can be stopped
// and started again on the same port.
type receiver struct {
	mu    sync.Mutex
	got   []string
	ln    net.Listener
	stopc chan struct{} // closed by stop: ends the open connection too
	addr  string
	wg    sync.WaitGroup
}

func (r *receiver) start(t *testing.T) {
	t.Helper()
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var err error
	for range 50 { // the port may linger briefly after a stop
		if r.ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.addr = r.ln.Addr().String()
	ln, stopc := r.ln, make(chan struct{})
	r.stopc = stopc
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					r.mu.Lock()
					r.got = append(r.got, sc.Text())
					r.mu.Unlock()
				}
			})
			// One connection at a time, like a restarted server: closing
			// the listener below also ends this one.
			r.wg.Go(func() { <-stopc; c.Close() })
		}
	})
}

func (r *receiver) stop() {
	close(r.stopc)
	r.ln.Close()
	r.wg.Wait()
}

func (r *receiver) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestSyslogOutputOutage: records journaled while the receiver is down
// are delivered after it comes back, none lost; the cursor survives a
// restart of the output.
func TestSyslogOutputOutage(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var rcv receiver
	rcv.start(t)
	cfg := SyslogConfig{Name: "fwd", Address: rcv.addr, Framing: "newline"}
	var running sync.WaitGroup
	defer running.Wait() // before the journal closes and the directory goes
	run := func(ctx context.Context) *Runner {
		snd, err := NewSyslog(cfg, parse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ru, err := NewRunner(j, cfg.Name, "syslog", snd.Target(), snd, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		running.Go(func() { ru.Run(ctx) })
		return ru
	}
	appendN := func(from, n int) {
		recs := make([]journal.Record, n)
		for i := range recs {
			recs[i] = journal.Record{Time: time.Now(), Input: "syslog", Data: []byte(fmt.Sprintf("<13>Nov 28 10:00:00 host app: message %d", from+i))}
		}
		if err := j.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for len(distinct(rcv.lines())) < n {
			if time.Now().After(deadline) {
				t.Fatalf("receiver has %d distinct messages, want %d", len(distinct(rcv.lines())), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	ru := run(ctx)
	appendN(0, 100)
	waitFor(100)
	rcv.stop()
	appendN(100, 100) // the receiver is down
	time.Sleep(300 * time.Millisecond)
	if st := ru.Status(); st.Errors == 0 || st.Lag == 0 {
		t.Errorf("status during the outage: %+v", st)
	}
	rcv.start(t)
	waitFor(200)
	cancel()
	running.Wait() // Run commits and closes its reader

	// A new runner resumes after what was delivered.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2() // runs before running.Wait
	run(ctx2)
	appendN(200, 10)
	waitFor(210)
	got := distinct(rcv.lines())
	for i := range 210 {
		if !got[fmt.Sprintf("<13>Nov 28 10:00:00 host app: message %d", i)] {
			t.Fatalf("message %d lost", i)
		}
	}
	if n := len(rcv.lines()); n > 260 {
		t.Errorf("%d lines for 210 messages: far more duplicates than one batch", n)
	}
}

func distinct(lines []string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lines {
		m[l] = true
	}
	return m
}

func TestSyslogMessage(t *testing.T) {
	s, err := NewSyslog(SyslogConfig{Name: "x", Address: "127.0.0.1:1", Payload: "json"}, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &journal.Record{Seq: 42, Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), Input: `in"put`, Data: []byte(`{"ip":"203.0.113.9","statuscode":401,"request_uri":"/owa/auth.owa"}`)}
	msg := string(s.message(rec))
	for _, want := range []string{"<174>1 2026-11-28T10:00:00.000000Z ", " vigil - event ", `[vigil@32473 input="in\"put" seq="42"]`, `"source.ip":"203.0.113.9"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	orig, _ := NewSyslog(SyslogConfig{Name: "x", Address: "127.0.0.1:1"}, parse.Options{})
	if got := string(orig.message(&journal.Record{Data: []byte("<13>Nov 28 10:00:00 h a: m")})); got != "<13>Nov 28 10:00:00 h a: m" {
		t.Errorf("a syslog message is not forwarded unchanged: %q", got)
	}
	if got := string(orig.message(&journal.Record{Input: "kafka", Seq: 7, Data: []byte(`{"k":"v"}`)})); !strings.HasSuffix(got, `seq="7"] {"k":"v"}`) {
		t.Errorf("a bare message gets no header: %q", got)
	}
	bsd, _ := NewSyslog(SyslogConfig{Name: "x", Address: "127.0.0.1:1", Format: "rfc3164"}, parse.Options{})
	if got := string(bsd.message(&journal.Record{Input: "kafka", Seq: 7, Time: time.Date(2026, 11, 28, 9, 5, 1, 0, time.UTC), Data: []byte(`{"k":"v"}`)})); !strings.HasPrefix(got, "<174>Nov 28 09:05:01 ") || !strings.HasSuffix(got, ` vigil: input="kafka" seq=7 {"k":"v"}`) {
		t.Errorf("rfc3164 message: %q", got)
	}
	for _, bad := range []SyslogConfig{{Name: "a", Address: "h:1", Format: "gelf"}, {Address: "x:1"}, {Name: "a", Address: "nohost"}, {Name: "a", Address: "h:1", Transport: "sctp"},
		{Name: "a", Address: "h:1", Payload: "xml"}, {Name: "a", Address: "h:1", CAFile: "/x"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// runUntilSent runs an output runner for snd on j until it has delivered
// n records (or a generous 60 s passed), then stops it and returns it.
func runUntilSent(t *testing.T, j *journal.Journal, name string, snd Sender, n uint64) *Runner {
	t.Helper()
	ru, err := NewRunner(j, name, "test", "-", snd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runInBackground(ru)
	deadline := time.Now().Add(60 * time.Second)
	for ru.Status().Sent < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	return ru
}

// runInBackground runs ru until the returned stop is called; stop returns
// once Run has (the cursor is committed by then).
func runInBackground(ru *Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ru.Run(ctx) })
	return func() { cancel(); wg.Wait() }
}

// countSender counts the records it is sent.
type countSender struct {
	mu sync.Mutex
	n  int
}

func (c *countSender) Close() error { return nil }
func (c *countSender) Send(_ context.Context, recs []journal.Record) error {
	c.mu.Lock()
	c.n += len(recs)
	c.mu.Unlock()
	return nil
}

// TestIdleOutputCommits: an output that has delivered everything and
// waits for more records commits its cursor while it waits (it used to
// commit only after a later delivery, so a crash sent everything since
// its last busy moment again).
func TestIdleOutputCommits(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for range 3 {
		recs := make([]journal.Record, 1000)
		for i := range recs {
			recs[i] = journal.Record{Input: "x", Data: []byte("m")}
		}
		if err := j.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	ru, err := NewRunner(j, "idle", "test", "-", &countSender{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runInBackground(ru)
	defer stop()
	deadline := time.Now().Add(15 * time.Second)
	for ru.r.Committed() != j.NextSeq() {
		if time.Now().After(deadline) {
			t.Fatalf("idle output: cursor committed at %d, delivered up to %d", ru.r.Committed(), ru.Status().Position)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bigBatches is a Sender that wants large batches and checks every
// record's text against its sequence number.
type bigBatches struct {
	t     *testing.T
	mu    sync.Mutex
	seen  int
	calls int
}

func (b *bigBatches) BatchSize() int { return 50_000 }
func (b *bigBatches) Close() error   { return nil }
func (b *bigBatches) Send(_ context.Context, recs []journal.Record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	for _, r := range recs {
		if want := fmt.Sprintf("record %08d %s", r.Seq, strings.Repeat("x", int(r.Seq%300))); string(r.Data) != want {
			b.t.Errorf("seq %d: data %.40q, want %.40q", r.Seq, r.Data, want)
			return nil
		}
		if want := fmt.Sprintf("kafka:t/0/%d@1", r.Seq); string(r.Origin) != want {
			b.t.Errorf("seq %d: origin %q, want %q", r.Seq, r.Origin, want)
			return nil
		}
	}
	b.seen += len(recs)
	return nil
}

// TestLargeBatchesKeepData: batches larger than one journal read (several
// reads, across segments) carry every record's own text and origin (the
// event id of a Kafka record is made from its origin).
func TestLargeBatchesKeepData(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 30_000
	for from := 0; from < n; from += 1000 {
		recs := make([]journal.Record, 1000)
		for i := range recs {
			seq := uint64(from + i + 1) // the journal numbers from 1
			recs[i] = journal.Record{Time: time.Now(), Input: "x", Data: []byte(fmt.Sprintf("record %08d %s", seq, strings.Repeat("x", int(seq%300)))),
				Origin: []byte(fmt.Sprintf("kafka:t/0/%d@1", seq))}
		}
		if err := j.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	snd := &bigBatches{t: t}
	runUntilSent(t, j, "big", snd, n)
	if snd.seen != n || snd.calls > 3 {
		t.Fatalf("%d records in %d batches, want %d in a few large ones", snd.seen, snd.calls, n)
	}
}

// flaky is a Pipeliner whose batches fail where the test says: start
// fails the Start calls with those numbers, wait the waits of those
// Start calls (both counted from 1).
type flaky struct {
	mu          sync.Mutex
	start, wait map[int]bool
	calls       int
	batches     [][]uint64 // seqs of each Start call
	confirmed   []uint64   // seqs of the batches whose wait succeeded (a batch started after a failed one may succeed too: the runner sends it again)
	waited      []int      // Start call numbers, in the order of their waits
}

func (f *flaky) BatchSize() int { return 100 }
func (f *flaky) Close() error   { return nil }
func (f *flaky) Send(context.Context, []journal.Record) error {
	panic("a Pipeliner's Send is not used by the runner")
}

func (f *flaky) Start(_ context.Context, recs []journal.Record) (func() error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	call := f.calls
	seqs := make([]uint64, len(recs))
	for i := range recs {
		seqs[i] = recs[i].Seq
	}
	f.batches = append(f.batches, seqs)
	if f.start[call] {
		return nil, fmt.Errorf("start %d failed", call)
	}
	return func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.waited = append(f.waited, call)
		if f.wait[call] {
			return fmt.Errorf("batch %d failed", call)
		}
		f.confirmed = append(f.confirmed, seqs...)
		return nil
	}, nil
}

// TestPipelinedRetry: with two batches in flight, a failed batch and the
// one sent after it go again; every record is confirmed, in order, once
// per successful delivery; the cursor and the counts cover exactly what
// was confirmed.
func TestPipelinedRetry(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	recs := make([]journal.Record, n)
	for i := range recs {
		recs[i] = journal.Record{Time: time.Now(), Input: "x", Data: []byte(fmt.Sprintf("r%d", i+1))}
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	snd := &flaky{start: map[int]bool{6: true}, wait: map[int]bool{2: true, 9: true}}
	ru := runUntilSent(t, j, "flaky", snd, n)

	st := ru.Status()
	if st.Sent != n || st.Position != n+1 || st.Errors != 3 {
		t.Fatalf("status sent %d position %d errors %d, want %d, %d, 3", st.Sent, st.Position, st.Errors, n, n+1)
	}
	// Every record was delivered at least once.
	got := map[uint64]bool{}
	for _, seq := range snd.confirmed {
		got[seq] = true
	}
	if len(got) != n {
		t.Fatalf("%d distinct records confirmed, want %d", len(got), n)
	}
	// After a failure the next batch starts at the failed batch's first
	// record: call 2's wait failed (seen after call 3 started), call 6's
	// start failed, call 9's wait failed (seen after call 10 started).
	starts := firstSeqs(snd.batches)
	for failed, next := range map[int]int{2: 4, 6: 7, 9: 11} {
		if len(starts) < next || starts[next-1] != starts[failed-1] {
			t.Errorf("call %d failed, call %d started at %v: starts %v", failed, next, starts[min(next, len(starts))-1], starts)
		}
	}
	// Every wait was called, in the order of the Start calls.
	var started []int
	for c := 1; c <= snd.calls; c++ {
		if !snd.start[c] {
			started = append(started, c)
		}
	}
	if fmt.Sprint(snd.waited) != fmt.Sprint(started) {
		t.Fatalf("waits %v, want one per started batch in order %v", snd.waited, started)
	}
	j.Close()
	j, err = journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r, err := j.OpenReader("output-flaky")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Position() != n+1 {
		t.Fatalf("committed cursor %d, want %d", r.Position(), n+1)
	}
}

func firstSeqs(batches [][]uint64) []uint64 {
	var s []uint64
	for _, b := range batches {
		s = append(s, b[0])
	}
	return s
}

// TestClickHouseDDL: Debian's 18.16 gets plain types (it rejects the
// rest); servers from 20.1 get LowCardinality, ZSTD codecs and a TTL.
func TestClickHouseDDL(t *testing.T) {
	for _, ddl := range []string{eventDDL(18, 16, 30, "UTC"), threatDDL(18, 16, 30, "UTC")} {
		for _, absent := range []string{"LowCardinality", "CODEC", "TTL"} {
			if strings.Contains(ddl, absent) {
				t.Errorf("18.16 DDL has %s:\n%s", absent, ddl)
			}
		}
	}
	for _, ddl := range []string{eventDDL(23, 8, 30, "UTC"), threatDDL(23, 8, 30, "UTC")} {
		for _, want := range []string{"LowCardinality(String)", "CODEC(ZSTD(1))", "TTL date + INTERVAL 30 DAY"} {
			if !strings.Contains(ddl, want) {
				t.Errorf("23.8 DDL lacks %s:\n%s", want, ddl)
			}
		}
	}
	if strings.Contains(eventDDL(23, 8, 0, "UTC"), "TTL") {
		t.Error("TTL without retention_days")
	}
	// The boundary: 20.1 is the first version with all three.
	for _, v := range []struct {
		major, minor uint64
		modern       bool
	}{{18, 16, false}, {19, 17, false}, {20, 1, true}, {26, 7, true}} {
		if modern(v.major, v.minor) != v.modern {
			t.Errorf("modern(%d, %d) = %v", v.major, v.minor, !v.modern)
		}
	}
}

// TestSyslogMessageCharset: the json payload of a record from an input
// with a charset is UTF-8; the original payload is the bytes as received.
func TestSyslogMessageCharset(t *testing.T) {
	popts := parse.Options{Charsets: charset.Inputs{"win": charset.GBK}}
	data := []byte("<13>Nov 28 10:00:00 h a: {\"user\":\"\xd5\xc5\xc8\xfd\"}") // 张三 in GBK
	rec := &journal.Record{Seq: 1, Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), Input: "win", Data: data}
	js, _ := NewSyslog(SyslogConfig{Name: "x", Address: "127.0.0.1:1", Payload: "json"}, popts)
	if msg := string(js.message(rec)); !strings.Contains(msg, `"user":"张三"`) || strings.Contains(msg, "parse_error") {
		t.Errorf("json payload %q", msg)
	}
	orig, _ := NewSyslog(SyslogConfig{Name: "x", Address: "127.0.0.1:1"}, popts)
	if got := orig.message(rec); !bytes.Equal(got, data) {
		t.Errorf("original payload %q, want the bytes as received", got)
	}
}

// TestWaitDelivered: WaitDelivered returns once the records before a
// sequence number are delivered, and with ctx's error when it ends first.
func TestWaitDelivered(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ru, err := NewRunner(j, "wait", "test", "-", &countSender{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := []journal.Record{{Input: "x", Data: []byte("a")}, {Input: "x", Data: []byte("b")}}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	end := recs[1].Seq + 1
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ru.WaitDelivered(ctx, end); err == nil {
		t.Fatal("WaitDelivered returned before the runner ran")
	}
	stop := runInBackground(ru)
	defer stop()
	if err := ru.WaitDelivered(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	if p := ru.Status().Position; p < end {
		t.Fatalf("position %d after WaitDelivered(%d)", p, end)
	}
}
