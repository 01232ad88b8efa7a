package vlstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

func alertRow(t time.Time, id string) store.Row {
	return store.Row{Time: t, Fields: []store.Field{
		{Name: "_msg", Value: "brute force from 192.0.2.7"},
		{Name: "event.kind", Value: "alert"},
		{Name: "event.dataset", Value: "vigil.alert"},
		{Name: "alert.id", Value: id},
		{Name: "source.ip", Value: "192.0.2.7"},
	}}
}

func eventRow(t time.Time) store.Row {
	return store.Row{Time: t, Fields: []store.Field{
		{Name: "_msg", Value: "login failed from 192.0.2.7"},
		{Name: "vigil.input", Value: "syslog"},
		{Name: "source.ip", Value: "192.0.2.7"},
	}}
}

func TestScopesApart(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	st := open(t, t.TempDir(), now)
	defer st.Close()
	if err := st.Add([]store.Row{eventRow(now.Add(-time.Minute)), eventRow(now.Add(-50 * time.Second))}); err != nil {
		t.Fatal(err)
	}
	if err := st.Alerts().Add([]store.Row{alertRow(now.Add(-40*time.Second), "a1")}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	tests := []struct {
		q    store.Query
		want int
	}{
		{store.Query{Text: "source.ip:192.0.2.7"}, 2},
		{store.Query{Text: "*", Scope: store.Events}, 2},
		{store.Query{Text: "event.kind:alert"}, 0},
		{store.Query{Text: "*", Scope: store.Alerts}, 1},
		{store.Query{Text: "source.ip:192.0.2.7", Scope: store.Alerts}, 1},
		{store.Query{Text: "* | stats count() n", Scope: store.Events}, 1},
	}
	for _, tt := range tests {
		if got := len(search(t, st, tt.q)); got != tt.want {
			t.Errorf("%s in %s: %d rows, want %d", tt.q.Text, tt.q.Scope, got, tt.want)
		}
	}
	// The alerts view searches alerts whatever the query says.
	var n int
	if err := st.Alerts().Search(t.Context(), store.Query{Text: "*"}, func(store.Row) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("alerts view: %d rows, %v; want 1", n, err)
	}
	if got := search(t, st, store.Query{Text: "* | stats count() n"}); len(got) != 1 || got[0].Get("n") != "2" {
		t.Errorf("event count = %v, want 2", got)
	}
}

// TestMoveOldAlerts: alerts an earlier version stored among the events
// move to the alerts side at the next start, once, without duplicates.
func TestMoveOldAlerts(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	dir := t.TempDir()
	st := open(t, dir, now)
	// As an earlier version stored them: among the events. One of them
	// was copied already by a move that was interrupted.
	old := []store.Row{eventRow(now.Add(-time.Hour)), alertRow(now.Add(-50*time.Minute), "a1"), alertRow(now.Add(-40*time.Minute), "a2")}
	if err := st.Add(old); err != nil {
		t.Fatal(err)
	}
	if err := st.AddAlerts([]store.Row{alertRow(now.Add(-40*time.Minute), "a2")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, scopesFile)); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second start finds nothing to move
		st = open(t, dir, now)
		if got := len(search(t, st, store.Query{Text: "*", Scope: store.Alerts})); got != 2 {
			t.Errorf("alerts after the move: %d, want 2", got)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			n := len(search(t, st, store.Query{Text: "*"}))
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("events: %d rows, want 1 (the old alerts deleted)", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, scopesFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("marker: %v, %v", fi, err)
	}
}
