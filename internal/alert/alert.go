// Package alert defines the alert record that the detection engine produces
// and every alert channel (store, syslog, webhook, mail, ClickHouse
// threat_table) consumes.
//
// The JSON names follow the ClickHouse threat_table of the deployment Vigil
// replaces: (date, hour, ts, src_ip, src_port, dst_ip, dst_port, threat,
// level, type, payloads, message), plus the rule, user, device and count.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Levels, lowest first.
const (
	LevelInfo     = "info"
	LevelLow      = "low"
	LevelMedium   = "medium"
	LevelHigh     = "high"
	LevelCritical = "critical"
)

var levels = []string{LevelInfo, LevelLow, LevelMedium, LevelHigh, LevelCritical}

// Severity returns the rank of a level (info 0 ... critical 4), or -1.
func Severity(level string) int {
	for i, l := range levels {
		if l == level {
			return i
		}
	}
	return -1
}

// Raise returns the level one step above level (critical stays critical).
func Raise(level string) string {
	s := Severity(level)
	if s < 0 || s+1 >= len(levels) {
		return level
	}
	return levels[s+1]
}

// Alert is one detection: a rule fired for one group (a source address, a
// user, ...) over a span of event time.
type Alert struct {
	// ID is stable for the same rule, group and first contributing event,
	// so a replay that raises the alert again yields the same ID.
	ID        string `json:"alert_id"`
	RuleID    string `json:"rule_id"`
	RuleTitle string `json:"rule_title"`
	// Threat names what happened: brute-force, password-spraying, ...
	Threat string `json:"threat"`
	// Level is one of the Level constants.
	Level string `json:"level"`
	// Type is the rule type that fired: match, threshold, cardinality,
	// new_value, sequence, spike, absence, travel.
	Type string `json:"type"`
	// First and Last bound the event time of the contributing events; TS is
	// the event time at which the rule fired.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	TS    time.Time `json:"ts"`

	SrcIP    string `json:"src_ip"`
	SrcPort  int    `json:"src_port"`
	DstIP    string `json:"dst_ip"`
	DstPort  int    `json:"dst_port"`
	User     string `json:"user"`
	DeviceID string `json:"device_id"`
	// Group is the rule's group_by key as "field=value" pairs.
	Group string `json:"group"`
	// Count is the number of events behind the alert: for a follow-up, the
	// events since the previous alert of the same group.
	Count int `json:"count"`
	// FollowUp marks an alert raised after the suppression period of an
	// earlier one for the same group.
	FollowUp bool   `json:"follow_up"`
	Message  string `json:"message"`
	// Payloads are the original lines of contributing events (bounded).
	Payloads []string `json:"payloads"`
	// Fields carries rule-specific details (distinct values counted,
	// countries, the list that raised the level, ...).
	Fields map[string]string `json:"fields,omitempty"`
	// Notify are mail recipients the rule asks for (in addition to the
	// configured channels), already expanded.
	Notify []string `json:"notify,omitempty"`
}

// MakeID returns the stable alert ID for a rule, a group key and the journal
// sequence number (or any stable number) of the first contributing event.
func MakeID(rule, group string, first uint64) string {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(group))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatUint(first, 10)))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Date is the UTC day of TS, as the threat_table's date column holds it.
func (a *Alert) Date() string { return a.TS.UTC().Format("2006-01-02") }

// Hour is the UTC hour of TS (0-23), as the threat_table's hour column.
func (a *Alert) Hour() int { return a.TS.UTC().Hour() }

// MarshalJSON adds the threat_table's date and hour columns.
func (a *Alert) MarshalJSON() ([]byte, error) {
	type plain Alert
	return json.Marshal(struct {
		Date string `json:"date"`
		Hour int    `json:"hour"`
		*plain
	}{a.Date(), a.Hour(), (*plain)(a)})
}

// String is a one-line summary for logs.
func (a *Alert) String() string {
	return fmt.Sprintf("%s [%s] %s: %s", a.TS.UTC().Format(time.RFC3339), a.Level, a.RuleID, a.Message)
}

// Sink receives alerts. Send must not block detection for long: channels
// that talk to the network queue and retry on their own goroutines.
type Sink interface {
	Send(a *Alert)
}
