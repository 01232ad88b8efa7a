package alert

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vigil-soc/vigil/internal/journal"
)

// Input is the input name of the alert journal's records.
const Input = "alert"

// ScanJournal calls fn for each alert recorded in the alert journal j from
// sequence number from to its end as of the call, and returns how many
// records were not readable alerts (skipped).
func ScanJournal(j *journal.Journal, from uint64, fn func(*Alert)) (bad int, err error) {
	end := j.NextSeq()
	if from >= end {
		return 0, nil
	}
	r, err := j.ReaderAt(from)
	if err != nil {
		return 0, fmt.Errorf("alert journal: %w", err)
	}
	defer r.Close()
	poll, cancel := context.WithCancel(context.Background())
	cancel() // Next becomes a non-blocking poll
	var recs []journal.Record
	for r.Position() < end {
		if recs, err = r.Next(poll, recs[:0], 1024); err != nil || len(recs) == 0 {
			break
		}
		for i := range recs {
			if recs[i].Seq >= end {
				return bad, nil
			}
			var a Alert
			if json.Unmarshal(recs[i].Data, &a) != nil {
				bad++
				continue
			}
			fn(&a)
		}
	}
	return bad, nil
}
