package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

const ruleStateBucket = "rule_state"

// RuleState is a rule turned on or off from the console or the API. It
// wins over detect.disable and the rule file's disabled key, and is
// applied to the rule pack at every start.
type RuleState struct {
	ID      string    `json:"id"`
	Enabled bool      `json:"enabled"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// PutRuleState records s, replacing the rule's previous state.
func (tx *Tx) PutRuleState(s *RuleState) error {
	if s.ID == "" {
		return fmt.Errorf("storage: rule state without an id")
	}
	return tx.Put(ruleStateBucket, s.ID, s)
}

// RuleStates returns every recorded rule state by rule id.
func (tx *Tx) RuleStates() (map[string]RuleState, error) {
	out := map[string]RuleState{}
	err := tx.Each(ruleStateBucket, "", func(key string, data []byte) error {
		var s RuleState
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("storage: rule state %s: %w", key, err)
		}
		out[key] = s
		return nil
	})
	return out, err
}

// RuleStates returns every recorded rule state by rule id.
func (db *DB) RuleStates() (map[string]RuleState, error) {
	var out map[string]RuleState
	err := db.View(func(tx *Tx) error {
		var err error
		out, err = tx.RuleStates()
		return err
	})
	return out, err
}
