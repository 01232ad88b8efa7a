package storage

import (
	"fmt"
	"time"
)

const triageBucket = "alert_triage"

// Triage states of an alert. An alert without a triage record is new.
const (
	StatusNew           = "new"
	StatusAcknowledged  = "acknowledged"
	StatusResolved      = "resolved"
	StatusFalsePositive = "false_positive"
)

// Statuses lists the triage states in the order of their progress.
var Statuses = []string{StatusNew, StatusAcknowledged, StatusResolved, StatusFalsePositive}

// Triage is what people made of one alert: its status, who owns it and
// their comments. The alert itself lives in the search store.
type Triage struct {
	AlertID  string    `json:"alert_id"`
	Status   string    `json:"status"`
	Assignee string    `json:"assignee,omitempty"`
	Comments []Comment `json:"comments,omitempty"`
	// Updated and UpdatedBy tell the last change (zero for a new alert).
	Updated   time.Time `json:"updated,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Comment is one note on an alert, appended, never edited.
type Comment struct {
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

// Triage returns the triage record of an alert; one it lacks is a new
// alert's (status new).
func (tx *Tx) Triage(alertID string) (Triage, error) {
	t := Triage{AlertID: alertID, Status: StatusNew}
	if _, err := tx.Get(triageBucket, alertID, &t); err != nil {
		return Triage{}, err
	}
	return t, nil
}

// PutTriage writes an alert's triage record. Write its audit entry in
// the same transaction.
func (tx *Tx) PutTriage(t *Triage) error {
	if t.AlertID == "" {
		return fmt.Errorf("storage: triage record without an alert id")
	}
	return tx.Put(triageBucket, t.AlertID, t)
}

// Triages returns the triage records of the given alerts, keyed by alert
// id; alerts without one get a new alert's.
func (db *DB) Triages(alertIDs []string) (map[string]Triage, error) {
	out := make(map[string]Triage, len(alertIDs))
	err := db.View(func(tx *Tx) error {
		for _, id := range alertIDs {
			t, err := tx.Triage(id)
			if err != nil {
				return err
			}
			out[id] = t
		}
		return nil
	})
	return out, err
}
