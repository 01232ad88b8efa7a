package alert

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// Dataset is the event.dataset of alerts in the store.
const Dataset = "vigil.alert"

// Row returns the alert as a store row, with the names of its JSON (see
// the package comment): searchable by the same normalized names as events
// (source.ip, user.name, device.id) and by rule.id, threat, level, ...
func (a *Alert) Row() store.Row {
	f := []store.Field{
		{Name: "_msg", Value: a.Message},
		{Name: "event.kind", Value: "alert"},
		{Name: "event.dataset", Value: Dataset},
		{Name: FieldID, Value: a.ID},
		{Name: FieldRuleID, Value: a.RuleID},
		{Name: FieldRuleName, Value: a.RuleTitle},
		{Name: "threat", Value: a.Threat},
		{Name: "level", Value: a.Level},
		{Name: "type", Value: a.Type},
		{Name: FieldGroup, Value: a.Group},
		{Name: FieldCount, Value: strconv.Itoa(a.Count)},
		{Name: FieldFirst, Value: a.First.UTC().Format(time.RFC3339Nano)},
		{Name: FieldLast, Value: a.Last.UTC().Format(time.RFC3339Nano)},
	}
	add := func(name, v string) {
		if v != "" {
			f = append(f, store.Field{Name: name, Value: v})
		}
	}
	if a.FollowUp {
		add(FieldFollowUp, "true")
	}
	add("source.ip", a.SrcIP)
	add("destination.ip", a.DstIP)
	if a.SrcPort > 0 {
		add("source.port", strconv.Itoa(a.SrcPort))
	}
	if a.DstPort > 0 {
		add("destination.port", strconv.Itoa(a.DstPort))
	}
	add("user.name", a.User)
	add("device.id", a.DeviceID)
	add(FieldNotify, strings.Join(a.Notify, ","))
	if len(a.Actions) > 0 {
		b, _ := json.Marshal(a.Actions) // strings and durations always encode
		add(FieldActions, string(b))
	}
	keys := make([]string, 0, len(a.Fields))
	for k := range a.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(FieldsPrefix+k, a.Fields[k])
	}
	add(FieldPayloads, strings.Join(a.Payloads, "\n"))
	return store.Row{Time: a.TS, Fields: f}
}

// StoreSink adds alerts to the embedded store.
type StoreSink struct {
	// Store is the store's alerts side (store.Alerts), which keeps them
	// apart from the events.
	Store store.Store
	// OnError is told about a failed write (may be nil).
	OnError func(error)
}

// Send implements Sink.
func (s *StoreSink) Send(a *Alert) {
	if err := s.Store.Add([]store.Row{a.Row()}); err != nil && s.OnError != nil {
		s.OnError(err)
	}
}

// FromRow reads an alert back from its stored row (what Row writes); the
// row's strings are copied.
func FromRow(r store.Row) *Alert {
	a := &Alert{TS: r.Time}
	for _, f := range r.Fields {
		v := strings.Clone(f.Value)
		switch f.Name {
		case "_msg":
			a.Message = v
		case FieldID:
			a.ID = v
		case FieldRuleID:
			a.RuleID = v
		case FieldRuleName:
			a.RuleTitle = v
		case "threat":
			a.Threat = v
		case "level":
			a.Level = v
		case "type":
			a.Type = v
		case FieldGroup:
			a.Group = v
		case FieldCount:
			a.Count, _ = strconv.Atoi(v)
		case FieldFirst:
			a.First, _ = time.Parse(time.RFC3339Nano, v)
		case FieldLast:
			a.Last, _ = time.Parse(time.RFC3339Nano, v)
		case FieldFollowUp:
			a.FollowUp = v == "true"
		case "source.ip":
			a.SrcIP = v
		case "destination.ip":
			a.DstIP = v
		case "source.port":
			a.SrcPort, _ = strconv.Atoi(v)
		case "destination.port":
			a.DstPort, _ = strconv.Atoi(v)
		case "user.name":
			a.User = v
		case "device.id":
			a.DeviceID = v
		case FieldNotify:
			a.Notify = strings.Split(v, ",")
		case FieldActions:
			_ = json.Unmarshal([]byte(v), &a.Actions) // unreadable: no actions
		case FieldPayloads:
			a.Payloads = strings.Split(v, "\n")
		default:
			if name, ok := strings.CutPrefix(f.Name, FieldsPrefix); ok {
				if a.Fields == nil {
					a.Fields = map[string]string{}
				}
				a.Fields[strings.Clone(name)] = v
			}
		}
	}
	return a
}
