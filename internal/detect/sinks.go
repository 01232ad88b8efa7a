package detect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
)

// Checkpoints keeps the detector's latest checkpoint: the state file in
// DetectorOptions.Dir by default, a Kafka topic when several nodes share
// one detector (package kafkadetect).
type Checkpoints interface {
	// Load returns the latest checkpoint and when it was written; nil
	// data when there is none.
	Load(ctx context.Context) (data []byte, written time.Time, err error)
	// Save stores data durably as the latest checkpoint.
	Save(ctx context.Context, data []byte) error
}

// AlertLog is where the detector records alerts: the alert journal by
// default. Positions are the log's own (journal sequence numbers, Kafka
// offsets); a checkpoint holds the position up to which the alerts it
// covers were recorded.
type AlertLog interface {
	// Append records recs (alert JSON in Data) durably, all or none.
	Append(ctx context.Context, recs []journal.Record) error
	// Sync makes what was appended durable.
	Sync() error
	// NextSeq is the position of the next alert recorded.
	NextSeq() uint64
	// Scan calls fn for every alert recorded from position from on, up
	// to the end as of the call; bad counts unreadable records.
	Scan(ctx context.Context, from uint64, fn func(*alert.Alert)) (bad int, err error)
}

// fileCheckpoints keeps the checkpoint in a file, replaced atomically.
type fileCheckpoints struct{ path string }

func (f fileCheckpoints) Load(context.Context) ([]byte, time.Time, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read checkpoint: %w", err)
	}
	var at time.Time
	if fi, err := os.Stat(f.path); err == nil {
		at = fi.ModTime().UTC()
	}
	return data, at, nil
}

func (f fileCheckpoints) Save(_ context.Context, data []byte) error {
	return writeFileSync(f.path, data)
}

// journalAlerts records alerts in the alert journal.
type journalAlerts struct{ j *journal.Journal }

func (a journalAlerts) Append(_ context.Context, recs []journal.Record) error {
	return a.j.Append(recs)
}

func (a journalAlerts) Sync() error     { return a.j.Sync() }
func (a journalAlerts) NextSeq() uint64 { return a.j.NextSeq() }

func (a journalAlerts) Scan(_ context.Context, from uint64, fn func(*alert.Alert)) (int, error) {
	return alert.ScanJournal(a.j, from, fn)
}

// checkpointPath is the state file of a detector keeping it in dir.
func checkpointPath(dir string) string { return filepath.Join(dir, stateFile) }
