package vlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigil-soc/vigil/internal/store"
)

// scopesFile marks a store whose alerts are apart from its events.
const scopesFile = "vigil-scopes"

// oldAlerts matches the alerts that earlier versions stored among the
// events (the alert store writer's rows).
const oldAlerts = `event.kind:alert event.dataset:"vigil.alert"`

// moveAlerts moves the alerts that earlier versions stored among the
// events to the alerts side, once per store (scopesFile marks it done):
// it copies each old alert row that the alerts side does not hold yet (by
// alert.id, so an interrupted move starts over without duplicates), closes
// and reopens the engine so the copies are on disk, and then has the
// engine delete the originals (a delete task the engine keeps across
// restarts and runs in the background). A failure is logged and the move
// is tried again at the next start; until then the old alerts still count
// among the events.
func (st *Store) moveAlerts(scfg *logstorage.StorageConfig) {
	mark := filepath.Join(st.cfg.Path, scopesFile)
	if _, err := os.Stat(mark); err == nil {
		return
	}
	moved, err := st.copyOldAlerts(context.Background())
	if err == nil && moved > 0 {
		st.s.MustClose()
		st.s = logstorage.MustOpenStorage(st.cfg.Path, scfg)
		err = st.deleteOldAlerts()
	}
	if err == nil {
		err = os.WriteFile(mark, []byte("events and alerts apart (alerts: tenant 0:1)\n"), 0o600)
	}
	if err != nil {
		st.log.Error("store: move the alerts stored among the events apart; trying again at the next start", "err", err)
		return
	}
	if moved > 0 {
		st.log.Info("store: moved the alerts stored among the events by an earlier version apart from the events", "alerts", moved)
	}
}

// copyOldAlerts copies the old alert rows among the events to the alerts
// side and returns how many it found.
func (st *Store) copyOldAlerts(ctx context.Context) (int, error) {
	held := map[string]bool{}
	err := st.Search(ctx, store.Query{Text: oldAlerts + " | fields alert.id", Scope: store.Alerts, Order: store.Unordered}, func(r store.Row) error {
		held[strings.Clone(r.Get("alert.id"))] = true
		return nil
	})
	if err != nil {
		return 0, err
	}
	var (
		rows  []store.Row
		found int
		addEr error
	)
	flush := func() {
		if len(rows) > 0 && addEr == nil {
			addEr = st.AddAlerts(rows)
		}
		rows = rows[:0]
	}
	err = st.Search(ctx, store.Query{Text: oldAlerts, Order: store.Unordered}, func(r store.Row) error {
		found++
		if held[r.Get("alert.id")] && r.Get("alert.id") != "" {
			return nil
		}
		c := store.Row{Time: r.Time, Fields: make([]store.Field, len(r.Fields))}
		for i, f := range r.Fields {
			c.Fields[i] = store.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
		}
		rows = append(rows, c)
		if len(rows) == 1000 {
			flush()
		}
		return addEr
	})
	flush()
	if err == nil {
		err = addEr
	}
	if err != nil {
		return 0, fmt.Errorf("copy old alerts: %w", err)
	}
	return found, nil
}

// deleteOldAlerts has the engine delete the old alert rows among the events.
func (st *Store) deleteOldAlerts() error {
	f, err := logstorage.ParseFilter(oldAlerts)
	if err != nil {
		return fmt.Errorf("delete old alerts: %w", err)
	}
	const task = "vigil-move-alerts-apart"
	if err := st.s.DeleteRunTask(context.Background(), task, st.cfg.Now().UnixNano(), []logstorage.TenantID{eventsTenant}, f); err != nil &&
		!strings.Contains(err.Error(), "already registered") {
		return fmt.Errorf("delete old alerts: %w", err)
	}
	return nil
}
