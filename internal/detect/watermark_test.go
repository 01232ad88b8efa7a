package detect

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// sent is an event from host with its own time at and receive time recv
// (zero: no vigil.received).
func sent(seq uint64, host string, at, recv time.Time, kv ...string) *Event {
	fields := []string{"host.hostname", host}
	if !recv.IsZero() {
		fields = append(fields, "vigil.received", recv.UTC().Format(parse.ReceivedLayout))
	}
	return ev(seq, at, append(fields, kv...)...)
}

// TestPlacement: each sender's events are late only behind its own
// progress; events ahead of their receive time are placed at it, keeping
// their spacing; the engine's clock never passes receive time plus
// MaxClockSkew.
func TestPlacement(t *testing.T) {
	type step struct {
		host      string
		at, recv  time.Duration // from t0; recv < 0: no receive time
		placed    time.Duration
		late      bool
		wantClock time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a sender ahead does not make another's events late", []step{
			{"a", 30 * time.Minute, 0, 0, false, 0},
			{"b", 0, 0, 0, false, 0},
			{"b", 10 * time.Second, 10 * time.Second, 10 * time.Second, false, 10 * time.Second},
			{"a", 30*time.Minute + 20*time.Second, 20 * time.Second, 20 * time.Second, false, 20 * time.Second},
		}},
		{"lateness counts within a sender", []step{
			{"a", 0, time.Second, 0, false, 0},
			{"a", 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, false, 2 * time.Minute},
			{"a", 30 * time.Second, 2 * time.Minute, 30 * time.Second, true, 2 * time.Minute},
			{"a", 90 * time.Second, 2 * time.Minute, 90 * time.Second, false, 2 * time.Minute},
			{"b", 30 * time.Second, 2 * time.Minute, 30 * time.Second, false, 2 * time.Minute},
		}},
		{"a skewed sender keeps its spacing", []step{
			{"a", 8 * time.Hour, 0, 0, false, 0},
			{"a", 8*time.Hour + 20*time.Second, 25 * time.Second, 20 * time.Second, false, 20 * time.Second},
			{"a", 8*time.Hour + 19*time.Second, 25 * time.Second, 19 * time.Second, false, 20 * time.Second},
		}},
		{"a clock that jumps is measured again", []step{
			{"a", 30 * time.Minute, 0, 0, false, 0},
			{"a", 10*time.Minute + 10*time.Second, 10 * time.Second, 10 * time.Second, false, 10 * time.Second},
			{"a", 11*time.Minute + 5*time.Second, time.Minute, time.Minute + 5*time.Second, false, time.Minute + 5*time.Second},
		}},
		{"in step again: its own time", []step{
			{"a", 30 * time.Minute, 0, 0, false, 0},
			{"a", 20 * time.Second, 20 * time.Second, 20 * time.Second, false, 20 * time.Second},
		}},
		{"a lead within the tolerance moves the clock at most that far", []step{
			{"a", 4 * time.Minute, 0, 4 * time.Minute, false, 4 * time.Minute},
			{"b", 0, 0, 0, false, 4 * time.Minute},
		}},
		{"a sender behind, or a backlog, is not late", []step{
			{"a", 0, 0, 0, false, 0},
			{"b", -5 * time.Hour, 0, -5 * time.Hour, false, 0},
			{"b", -5*time.Hour + time.Second, time.Second, -5*time.Hour + time.Second, false, 0},
		}},
		{"without a receive time, event time counts", []step{
			{"a", 30 * time.Minute, -1, 30 * time.Minute, false, 30 * time.Minute},
			{"b", 0, -1, 0, false, 30 * time.Minute},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := New(nil, Options{})
			for i, s := range tc.steps {
				recv := t0.Add(s.recv)
				if s.recv < 0 {
					recv = time.Time{}
				}
				x := sent(uint64(i), s.host, t0.Add(s.at), recv)
				e.look.next(len(e.env.names.names))
				x.look = &e.look
				placed, late := e.place(x, x.Time.UnixNano())
				if got := time.Duration(placed - t0.UnixNano()); got != s.placed || late != s.late {
					t.Errorf("step %d: placed at %v, late %v; want %v, %v", i, got, late, s.placed, s.late)
				}
				if got := time.Duration(e.newest - t0.UnixNano()); got != s.wantClock {
					t.Errorf("step %d: engine clock at %v, want %v", i, got, s.wantClock)
				}
			}
		})
	}
}

// TestSenderBehindKeepsTimers: a sender whose clock runs five hours
// behind, evaluated in its own time, is still active for an absence rule
// while it sends, and its alerts are suppressed for the suppression period
// of the engine's clock (its events must not end the period at once).
func TestSenderBehindKeepsTimers(t *testing.T) {
	rules := mustRules(t, `
id: silent
title: Silent
type: absence
match: {event.kind: event}
group_by: [host.hostname]
window: 5m
min_events: 3
---
id: brute
title: Brute
type: threshold
match: {event.outcome: failure}
group_by: [source.ip]
window: 10m
threshold: 3
suppress: 1h
`)
	var got []*alert.Alert
	e, _ := New(rules, Options{Emit: func(a *alert.Alert) { got = append(got, a) }})
	seq := uint64(0)
	for i := range 30 { // 30 minutes: dc01 in step, dc02 five hours behind
		now := t0.Add(time.Duration(i) * time.Minute)
		seq++
		e.Process(sent(seq, "dc01", now, now, "event.kind", "event"))
		for k := range 3 {
			seq++
			e.Process(sent(seq, "dc02", now.Add(-5*time.Hour+time.Duration(k)*time.Second), now,
				"event.kind", "event", "event.outcome", "failure", "source.ip", "203.0.113.9"))
		}
	}
	var names []string
	for _, a := range got {
		names = append(names, fmt.Sprintf("%s %s follow_up=%v", a.RuleID, a.Group, a.FollowUp))
	}
	want := []string{"brute source.ip=203.0.113.9 follow_up=false"}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	// dc02 stops: it is noticed silent five minutes (engine clock) later.
	for i := 30; i < 40; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		seq++
		e.Process(sent(seq, "dc01", now, now, "event.kind", "event"))
	}
	if n := len(got); n != 2 || got[1].RuleID != "silent" || got[1].Group != "host.hostname=dc02" {
		t.Fatalf("after dc02 stopped: %d alerts, last %+v", n, got[n-1])
	}
	if want := t0.Add(28*time.Minute + 5*time.Minute); !got[1].TS.Equal(want) {
		t.Errorf("silence alerted at %v, want %v (dc02's last event on the engine's clock plus the window)", got[1].TS, want)
	}
}

// TestSkewLogAndStatus: a sender whose clock runs ahead is logged once,
// listed with its lead, counted, and logged again only after it was in
// step for a while.
func TestSkewLogAndStatus(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	e, _ := New(nil, Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: reg})
	ahead := func(n int) int {
		return strings.Count(logs.String(), "clock runs ahead") - n
	}
	step := func(seq uint64, host string, lead, recv time.Duration) {
		e.Process(sent(seq, host, t0.Add(recv+lead), t0.Add(recv)))
	}
	step(1, "exch02", 30*time.Minute, 0)
	step(2, "exch02", 30*time.Minute+12*time.Second, 10*time.Second)
	step(3, "exch01", 0, 10*time.Second)
	if ahead(0) != 1 || !strings.Contains(logs.String(), "source=exch02 skew=+30m0s") {
		t.Fatalf("log after two events ahead:\n%s", logs.String())
	}
	if !e.skewChanged() {
		t.Fatal("the skewed senders changed but skewChanged is false")
	}
	list := e.SkewedSources()
	want := SkewedSource{Source: "exch02", Skew: "+30m12s", Since: t0, LastSeen: t0.Add(10 * time.Second), Events: 2}
	if len(list) != 1 || list[0] != want {
		t.Fatalf("skewed senders %+v, want [%+v]", list, want)
	}
	if e.skewChanged() {
		t.Fatal("skewChanged after SkewedSources")
	}
	if got := testutil.ToFloat64(e.srcs.ahead); got != 2 {
		t.Errorf("vigil_detect_clock_skew_events_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(e.srcs.skewedN); got != 1 {
		t.Errorf("vigil_detect_skewed_sources = %v, want 1", got)
	}

	// In step for less than skewRecover: still skewed, and drifting again
	// is not logged again.
	step(4, "exch02", 0, 5*time.Minute)
	step(5, "exch02", 30*time.Minute, 6*time.Minute)
	if ahead(0) != 1 || len(e.SkewedSources()) != 1 {
		t.Fatalf("logged again within %v:\n%s", skewRecover, logs.String())
	}
	// In step for longer: back in step, logged, and logged again when it
	// drifts once more.
	step(6, "exch02", 0, 6*time.Minute+skewRecover)
	if !strings.Contains(logs.String(), "in step again") || len(e.SkewedSources()) != 0 {
		t.Fatalf("not back in step:\n%s\n%+v", logs.String(), e.SkewedSources())
	}
	step(7, "exch02", 9*time.Minute, 7*time.Minute+skewRecover)
	if ahead(0) != 2 || !strings.Contains(logs.String(), "skew=+9m0s") {
		t.Fatalf("second drift not logged:\n%s", logs.String())
	}
}

// TestSkewLogsBounded: made-up hostnames cannot flood the log: at most
// maxSkewLogs senders a minute are logged, the next line counts the rest.
func TestSkewLogsBounded(t *testing.T) {
	var logs bytes.Buffer
	e, _ := New(nil, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := range maxSkewLogs + 5 {
		e.Process(sent(uint64(i), fmt.Sprintf("h%d", i), t0.Add(time.Hour), t0))
	}
	e.Process(sent(99, "late", t0.Add(time.Hour+time.Minute), t0.Add(time.Minute)))
	if n := strings.Count(logs.String(), "clock runs ahead"); n != maxSkewLogs+1 {
		t.Fatalf("%d lines logged, want %d:\n%s", n, maxSkewLogs+1, logs.String())
	}
	if !strings.Contains(logs.String(), "source=late skew=+1h0m0s max_clock_skew=5m0s senders_not_logged_before=5") {
		t.Errorf("the next minute's line does not count the senders left out:\n%s", logs.String())
	}
	if n := len(e.SkewedSources()); n != maxSkewLogs+6 {
		t.Errorf("%d senders listed, want %d", n, maxSkewLogs+6)
	}
}

// TestSourceEviction: at MaxSources the least recently seen sender is
// forgotten (counted), so its next event starts its progress afresh.
func TestSourceEviction(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, _ := New(nil, Options{MaxSources: 2, Registerer: reg})
	e.Process(sent(1, "a", t0.Add(10*time.Minute), t0.Add(10*time.Minute)))
	e.Process(sent(2, "b", t0, t0.Add(10*time.Minute)))
	e.Process(sent(3, "a", t0.Add(10*time.Minute), t0.Add(10*time.Minute))) // b is now the least recent
	e.Process(sent(4, "c", t0, t0.Add(10*time.Minute)))                     // evicts b
	if got := testutil.ToFloat64(e.srcs.evicted); got != 1 {
		t.Fatalf("vigil_detect_evicted_sources_total = %v, want 1", got)
	}
	if _, ok := e.srcs.m["b"]; ok || len(e.srcs.m) != 2 {
		t.Fatalf("senders %v: want b evicted", e.srcs.m)
	}
	e.Process(sent(5, "a", t0, t0.Add(10*time.Minute))) // late for a
	if got := testutil.ToFloat64(e.m.late); got != 1 {
		t.Errorf("late events %v, want 1", got)
	}
}

// TestSourcesSurviveRestore: each sender's progress and skew are in the
// checkpoint; a checkpoint written before they existed still loads.
func TestSourcesSurviveRestore(t *testing.T) {
	e, _ := New(nil, Options{})
	e.Process(sent(1, "a", t0.Add(2*time.Minute), t0.Add(2*time.Minute)))
	e.Process(sent(2, "b", t0.Add(32*time.Minute), t0))
	var state bytes.Buffer
	if err := e.Snapshot(&state); err != nil {
		t.Fatal(err)
	}
	r, _ := New(nil, Options{})
	if _, err := r.Restore(&state); err != nil {
		t.Fatal(err)
	}
	if got, want := r.SkewedSources(), e.SkewedSources(); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 1 {
		t.Errorf("restored skewed senders %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		x      *Event
		placed time.Time
		late   bool
	}{
		{sent(3, "a", t0, t0.Add(3*time.Minute)), t0, true},                                                         // behind a's progress
		{sent(4, "b", t0.Add(32*time.Minute+5*time.Second), t0.Add(5*time.Second)), t0.Add(5 * time.Second), false}, // b's offset holds
	} {
		r.look.next(len(r.env.names.names))
		tc.x.look = &r.look
		if placed, late := r.place(tc.x, tc.x.Time.UnixNano()); placed != tc.placed.UnixNano() || late != tc.late {
			t.Errorf("seq %d after restore: placed at %v, late %v; want %v, %v", tc.x.Seq, time.Unix(0, placed).UTC(), late, tc.placed, tc.late)
		}
	}

	// The layout before senders were tracked.
	var old bytes.Buffer
	if err := gob.NewEncoder(&old).Encode(&struct {
		Version      int
		Newest, Tick int64
		Rules        []ruleState
	}{Version: stateVersion, Newest: t0.UnixNano(), Tick: t0.UnixNano()}); err != nil {
		t.Fatal(err)
	}
	o, _ := New(nil, Options{})
	if _, err := o.Restore(&old); err != nil {
		t.Fatalf("a checkpoint without senders: %v", err)
	}
	if o.newest != t0.UnixNano() || len(o.srcs.m) != 0 {
		t.Errorf("restored clock %v, %d senders", time.Unix(0, o.newest).UTC(), len(o.srcs.m))
	}
}

// TestDetectorStatusListsSkewedSenders: /api/v1/status (detect.engine)
// names a sender whose clock runs ahead.
func TestDetectorStatusListsSkewedSenders(t *testing.T) {
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: match\nmatch: {event.outcome: failure}\n")}}
	d, err := NewDetector(DetectorOptions{Dir: t.TempDir(), Builtin: builtin, CheckpointEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.ClockSkew == nil || len(st.ClockSkew) != 0 {
		t.Fatalf("fresh status lists %#v, want an empty list", st.ClockSkew)
	}
	recv := time.Now().UTC().Truncate(time.Millisecond)
	row := func(host string, at time.Time) store.Row {
		return store.Row{Time: at, Fields: []store.Field{{Name: "host.hostname", Value: host},
			{Name: "vigil.received", Value: recv.Format(parse.ReceivedLayout)}}}
	}
	d.Process(context.Background(), index.NewBatch([]uint64{1, 2}, []store.Row{row("exch02", recv.Add(30*time.Minute)), row("exch01", recv)}, nil, recv))
	st := d.Status()
	if len(st.ClockSkew) != 1 || st.ClockSkew[0].Source != "exch02" || st.ClockSkew[0].Skew != "+30m0s" || !st.ClockSkew[0].LastSeen.Equal(recv) {
		t.Fatalf("status clock_skew %+v, want exch02 at +30m0s", st.ClockSkew)
	}
}
