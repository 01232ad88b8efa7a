package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/units"
)

// recordAlerts appends alerts a<first>... to the alert journal and
// returns their ids.
func recordAlerts(t *testing.T, j *journal.Journal, first, n int, level string) []string {
	t.Helper()
	var recs []journal.Record
	var ids []string
	for i := first; i < first+n; i++ {
		a := &alert.Alert{ID: fmt.Sprintf("a%03d", i), RuleID: "r", Level: level, TS: time.Now(), Message: "m"}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, journal.Record{Input: "alert", Data: b})
		ids = append(ids, a.ID)
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	return ids
}

func waitCount(t *testing.T, h *hookServer, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %d requests, want %d", h.count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFollowAlertJournal: a channel following the alert journal delivers
// every alert for it once, in order, through an outage; a restart
// resumes after what was delivered, and alerts left undelivered at a
// stop are delivered after the next start instead of being dropped.
func TestFollowAlertJournal(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	h := newHookServer(t, 503, 503, 200) // down for two attempts, then up
	cfg := Config{Webhooks: []WebhookConfig{{Name: "Hook", URL: h.URL, MinLevel: alert.LevelMedium,
		Delivery: Delivery{Backoff: units.Duration(10 * time.Millisecond), MaxBackoff: units.Duration(20 * time.Millisecond)}}}}
	start := func() *Notifier {
		n, err := NewFollowing(cfg, j, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	stop := func(n *Notifier, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		return n.Close(ctx)
	}

	want := recordAlerts(t, j, 0, 5, alert.LevelHigh)
	recordAlerts(t, j, 5, 3, alert.LevelLow) // below min_level: skipped, still passed
	want = append(want, recordAlerts(t, j, 8, 2, alert.LevelCritical)...)
	n := start()
	waitCount(t, h, 2+len(want))
	if err := stop(n, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	got := h.ids(t)[2:] // the two refused attempts were for a000
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if st := n.Status()[0]; st.Sent != uint64(len(want)) || st.Dropped != 0 || st.Queued != 0 {
		t.Fatalf("status %+v", st)
	}

	// A restart sends nothing again, then the new alerts.
	before := h.count()
	more := recordAlerts(t, j, 10, 3, alert.LevelHigh)
	n = start()
	waitCount(t, h, before+3)
	h.mu.Lock()
	h.block = make(chan struct{}) // the receiver hangs from now on
	h.mu.Unlock()
	if got := h.ids(t)[before:]; !slices.Equal(got, more) {
		t.Fatalf("after restart delivered %v, want %v", got, more)
	}

	// A stop while the receiver hangs: the alert in flight and the one
	// after it stay in the alert journal.
	left := recordAlerts(t, j, 13, 2, alert.LevelHigh)
	waitCount(t, h, before+4)
	if err := stop(n, 200*time.Millisecond); err == nil {
		t.Fatal("Close reported nothing left behind")
	}
	h.mu.Lock()
	close(h.block)
	h.block = nil
	h.mu.Unlock()
	if st := n.Status()[0]; st.Dropped != 0 {
		t.Fatalf("alerts counted as dropped: %+v", st)
	}
	before = h.count()
	n = start()
	waitCount(t, h, before+2)
	if err := stop(n, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := h.ids(t)[before:]; !slices.Equal(got, left) {
		t.Fatalf("after the cut stop delivered %v, want %v", got, left)
	}
}

// TestFollowGivesUpOldAlerts: an alert recorded longer ago than max_age,
// by the notifier's clock, is given up and counted without an attempt
// (after a long outage a channel does not flood its receiver with stale
// alerts); the next one is delivered.
func TestFollowGivesUpOldAlerts(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return t0.Add(2 * time.Hour) }
	var recs []journal.Record
	for i, at := range []time.Time{t0, t0.Add(90 * time.Minute)} {
		b, err := json.Marshal(&alert.Alert{ID: fmt.Sprintf("a%d", i), RuleID: "r", Level: alert.LevelHigh, TS: at})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, journal.Record{Time: at, Input: "alert", Data: b})
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	h := newHookServer(t)
	cfg := Config{Webhooks: []WebhookConfig{{Name: "hook", URL: h.URL, Delivery: Delivery{MaxAge: units.Duration(time.Hour)}}}}
	n, err := start(cfg, j, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, h, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := h.ids(t); !slices.Equal(ids, []string{"a1"}) {
		t.Fatalf("delivered %v, want only a1 (a0 is older than max_age)", ids)
	}
	if st := n.Status()[0]; st.Failed != 1 || st.Sent != 1 || !strings.Contains(st.LastError, "max_age") {
		t.Fatalf("status %+v", st)
	}
}
