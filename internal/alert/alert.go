// Package alert defines the alert record that the detection engine produces
// and every alert channel (store, syslog, webhook, mail, ClickHouse
// threat_table, Kafka) consumes.
//
// An alert has one schema everywhere: its JSON (webhooks, the syslog
// channel's message, the alert journal, Kafka, `vigil rules test`) and its
// stored row use the same field names, those of the normalized event
// schema where one applies (source.ip, user.name, device.id, rule.id) and
// alert.* otherwise, so a search result, a webhook body and a rule test
// read alike. The ClickHouse threat_table keeps the column names of the
// deployment Vigil replaces; docs/outputs.md maps them.
package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
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
// user, ...) over a span of event time. Its JSON names are given with each
// field (see MarshalJSON).
type Alert struct {
	// ID (alert.id) is stable for the same rule, group and first
	// contributing event, so a replay that raises the alert again yields
	// the same ID.
	ID string
	// RuleID (rule.id) and RuleTitle (rule.name) name the rule.
	RuleID    string
	RuleTitle string
	// Threat (threat) names what happened: brute-force, password-spraying, ...
	Threat string
	// Level (level) is one of the Level constants.
	Level string
	// Type (type) is the rule type that fired: match, threshold,
	// cardinality, new_value, sequence, spike, absence, travel.
	Type string
	// First and Last (alert.first, alert.last) bound the event time of the
	// contributing events; TS (_time) is the event time at which the rule
	// fired.
	First time.Time
	Last  time.Time
	TS    time.Time

	// source.ip, source.port, destination.ip, destination.port,
	// user.name, device.id.
	SrcIP    string
	SrcPort  int
	DstIP    string
	DstPort  int
	User     string
	DeviceID string
	// Group (alert.group) is the rule's group_by key as "field=value" pairs.
	Group string
	// Count (alert.count) is the number of events behind the alert: for a
	// follow-up, the events since the previous alert of the same group.
	Count int
	// FollowUp (alert.follow_up) marks an alert raised after the
	// suppression period of an earlier one for the same group.
	FollowUp bool
	// Message (_msg) is the rendered message template.
	Message string
	// Payloads (alert.payloads) are the original lines of contributing
	// events (bounded).
	Payloads []string
	// Fields carries rule-specific details (distinct values counted,
	// countries, the list that raised the level, ...): alert.fields.<name>.
	Fields map[string]string
	// Notify (alert.notify) are mail recipients the rule asks for (in
	// addition to the configured channels), already expanded.
	Notify []string
	// Actions (alert.actions) are the decisions the rule asks for, with
	// their values taken from the alert (docs/rules.md#actions).
	Actions []Action
}

// Action is a decision an alert asks for: ban (captcha, throttle) the
// Scope (ip, range, user, device) Value for Duration.
type Action struct {
	Decision string
	Scope    string
	Value    string
	Duration time.Duration
}

// actionWire is an Action's JSON: the duration as Go writes one ("1h0m0s").
type actionWire struct {
	Decision string `json:"decision"`
	Scope    string `json:"scope"`
	Value    string `json:"value"`
	Duration string `json:"duration"`
}

// MarshalJSON writes the action with its duration as text.
func (a Action) MarshalJSON() ([]byte, error) {
	return json.Marshal(actionWire{a.Decision, a.Scope, a.Value, a.Duration.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Action) UnmarshalJSON(b []byte) error {
	var w actionWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := time.ParseDuration(w.Duration)
	if err != nil {
		return fmt.Errorf("action duration: %w", err)
	}
	*a = Action{w.Decision, w.Scope, w.Value, d}
	return nil
}

// The names of an alert's fields, in JSON and in the store.
const (
	FieldID       = "alert.id"
	FieldRuleID   = "rule.id"
	FieldRuleName = "rule.name"
	FieldGroup    = "alert.group"
	FieldCount    = "alert.count"
	FieldFirst    = "alert.first"
	FieldLast     = "alert.last"
	FieldFollowUp = "alert.follow_up"
	FieldPayloads = "alert.payloads"
	FieldNotify   = "alert.notify"
	FieldActions  = "alert.actions"
	// FieldsPrefix starts the name of each of Fields.
	FieldsPrefix = "alert.fields."
)

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

// wire is an alert's JSON without its fields, which MarshalJSON adds as
// alert.fields.<name> members.
type wire struct {
	Time     time.Time `json:"_time"`
	Message  string    `json:"_msg"`
	Kind     string    `json:"event.kind"`
	Dataset  string    `json:"event.dataset"`
	ID       string    `json:"alert.id"`
	RuleID   string    `json:"rule.id"`
	RuleName string    `json:"rule.name"`
	Threat   string    `json:"threat"`
	Level    string    `json:"level"`
	Type     string    `json:"type"`
	Group    string    `json:"alert.group"`
	Count    int       `json:"alert.count"`
	First    time.Time `json:"alert.first"`
	Last     time.Time `json:"alert.last"`
	FollowUp bool      `json:"alert.follow_up"`
	SrcIP    string    `json:"source.ip,omitempty"`
	SrcPort  int       `json:"source.port,omitempty"`
	DstIP    string    `json:"destination.ip,omitempty"`
	DstPort  int       `json:"destination.port,omitempty"`
	User     string    `json:"user.name,omitempty"`
	DeviceID string    `json:"device.id,omitempty"`
	Notify   []string  `json:"alert.notify,omitempty"`
	Actions  []Action  `json:"alert.actions,omitempty"`
	Payloads []string  `json:"alert.payloads"`
}

// MarshalJSON writes the alert with the names of its stored row (see the
// package comment): one flat object, times in RFC 3339 UTC, count and
// ports as numbers, payloads and notify as arrays.
func (a *Alert) MarshalJSON() ([]byte, error) {
	w := wire{
		Time: a.TS.UTC(), Message: a.Message, Kind: "alert", Dataset: Dataset,
		ID: a.ID, RuleID: a.RuleID, RuleName: a.RuleTitle, Threat: a.Threat, Level: a.Level, Type: a.Type,
		Group: a.Group, Count: a.Count, First: a.First.UTC(), Last: a.Last.UTC(), FollowUp: a.FollowUp,
		SrcIP: a.SrcIP, SrcPort: a.SrcPort, DstIP: a.DstIP, DstPort: a.DstPort, User: a.User, DeviceID: a.DeviceID,
		Notify: a.Notify, Actions: a.Actions, Payloads: a.Payloads,
	}
	if w.Payloads == nil {
		w.Payloads = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, err
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	if len(a.Fields) == 0 {
		return b, nil
	}
	b = b[:len(b)-1] // the closing brace
	for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
		b = append(b, ',')
		b = appendJSON(b, FieldsPrefix+k)
		b = append(b, ':')
		b = appendJSON(b, a.Fields[k])
	}
	return append(b, '}'), nil
}

// appendJSON appends s as a JSON string.
func appendJSON(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Alert) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	*a = Alert{
		ID: w.ID, RuleID: w.RuleID, RuleTitle: w.RuleName, Threat: w.Threat, Level: w.Level, Type: w.Type,
		First: w.First, Last: w.Last, TS: w.Time, SrcIP: w.SrcIP, SrcPort: w.SrcPort, DstIP: w.DstIP, DstPort: w.DstPort,
		User: w.User, DeviceID: w.DeviceID, Group: w.Group, Count: w.Count, FollowUp: w.FollowUp,
		Message: w.Message, Payloads: w.Payloads, Notify: w.Notify, Actions: w.Actions,
	}
	for k, v := range all {
		name, ok := strings.CutPrefix(k, FieldsPrefix)
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("alert: %s: %w", k, err)
		}
		if a.Fields == nil {
			a.Fields = map[string]string{}
		}
		a.Fields[name] = s
	}
	return nil
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
