// Package format holds what every log format parser shares: the Event a
// parser fills with normalized fields (docs/schema.md), the Source a
// parser may keep per-sender state in, user-name normalization, and the
// meaning of HTTP requests to an Exchange front end.
//
// A format lives in its own package (internal/parse/nginx, iis, exchange,
// windows, kv) and implements Text (it parses a message's text) or JSON (it
// maps the fields of a JSON payload that package parse already flattened).
package format

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// Text is a parser for one plain-text log format.
type Text interface {
	// Name is the format's name in configuration (inputs.syslog[].format)
	// and in `vigil parse --format`.
	Name() string
	// Detect reports cheaply whether msg looks like this format. It is
	// called in registration order; the first format that detects a
	// message parses it.
	Detect(msg []byte, src *Source) bool
	// Parse adds msg's normalized fields to ev. An error says precisely
	// why msg is not valid in this format; the event then keeps its text
	// and the error as vigil.parse_error, and fields added are dropped.
	// Parse returns ErrSkip for lines that carry no event (e.g. an IIS
	// "#Fields:" header, which only updates src's state); they are stored
	// as they are, marked with event.kind "state".
	Parse(msg []byte, src *Source, ev *Event) error
}

// JSON maps the flattened fields of a JSON payload (nginx escape=json,
// nxlog to_json) onto the normalized schema.
type JSON interface {
	// Name is the format's name.
	Name() string
	// Match reports whether ev's fields (as flattened from the JSON
	// payload) are this format's.
	Match(ev *Event) bool
	// Map adds normalized fields to ev. An error is reported like Text's.
	Map(ev *Event, src *Source) error
}

// MatchMapper is a JSON format that can tell whether an event is its own
// and map it in one pass over its fields. MatchMap reports false, having
// changed nothing, when Match would; else it does what Map does. Package
// parse prefers it to Match and Map.
type MatchMapper interface {
	JSON
	MatchMap(ev *Event, src *Source) (matched bool, err error)
}

// errSkip is returned by Parse for a line that carries no event.
type errSkip struct{}

func (errSkip) Error() string { return "format: no event in this line" }

// ErrSkip marks a line that only updates the parser's state.
var ErrSkip error = errSkip{}

// Source is what is known about a message's sender. One Source stands for
// one stream of messages (an input, a sending host and an application) and
// sees its messages in order, so a format may keep state in it.
type Source struct {
	// Received is when the current message arrived.
	Received time.Time
	// Location is the time zone of timestamps without an offset.
	Location *time.Location
	// Host and App are the syslog header's HOSTNAME and APP-NAME/tag.
	Host, App string
	// Users normalizes user names.
	Users *Users
	state map[string]any
}

// State returns the state a format stored under its name, or nil.
func (s *Source) State(format string) any { return s.state[format] }

// SetState stores a format's state for this source.
func (s *Source) SetState(format string, v any) {
	if s.state == nil {
		s.state = make(map[string]any)
	}
	s.state[format] = v
}

// Event is an event being parsed: its fields so far, plus what a format
// may decide about the event as a whole.
type Event struct {
	// Fields are the event's fields, in the order they were added.
	Fields []store.Field
	// Time is the event time the payload carries; zero keeps the syslog
	// header's (or the receive time).
	Time time.Time
	// Message replaces _msg when set (a summary of a structured event).
	Message string
	// Copy copies bytes into memory that lives as long as the event; a
	// format must use it (or Add's string copies) for values taken from msg.
	Copy func([]byte) string
	// KeepKeys asks JSON formats to keep the payload keys they mapped onto
	// normalized fields (parse.keep_source_keys). By default a mapped key
	// is replaced by its normalized field.
	KeepKeys bool
	// PayloadStart is the index in Fields of the first field a JSON
	// payload gave: the fields before it are the parser's own (syslog
	// header, vigil.*), never a payload key, so a JSON format that looks
	// for keys may start there (Payload). Zero means all fields.
	PayloadStart int
	// Empty names the top-level keys of a JSON payload that were present
	// with an empty value (not stored as fields): a format may need to
	// know that the source logged a value and it was empty, such as
	// nginx's $remote_user. At most a few are kept.
	Empty []string

	num [20]byte // AddInt's digits
}

// Payload returns the fields from PayloadStart on: those of a JSON
// payload, plus any a format added since.
func (e *Event) Payload() []store.Field { return e.Fields[e.PayloadStart:] }

// HasEmpty reports whether the payload had key with an empty value.
func (e *Event) HasEmpty(key string) bool {
	for _, k := range e.Empty {
		if k == key {
			return true
		}
	}
	return false
}

// Add adds a field; empty values and "-" are not stored.
func (e *Event) Add(name, value string) {
	if value == "" || value == "-" {
		return
	}
	e.Fields = append(e.Fields, store.Field{Name: name, Value: value})
}

// AddInt adds a field with n in decimal (copied with Copy: a number costs
// no allocation of its own).
func (e *Event) AddInt(name string, n int64) {
	e.Fields = append(e.Fields, store.Field{Name: name, Value: e.copy(strconv.AppendInt(e.num[:0], n, 10))})
}

// AddBytes adds a field whose value is in msg, copying it.
func (e *Event) AddBytes(name string, value []byte) {
	if len(value) == 0 || (len(value) == 1 && value[0] == '-') {
		return
	}
	e.Fields = append(e.Fields, store.Field{Name: name, Value: e.copy(value)})
}

func (e *Event) copy(b []byte) string {
	if e.Copy != nil {
		return e.Copy(b)
	}
	return string(b)
}

// Get returns the last value of the named field, or "".
func (e *Event) Get(name string) string {
	for i := len(e.Fields) - 1; i >= 0; i-- {
		if e.Fields[i].Name == name {
			return e.Fields[i].Value
		}
	}
	return ""
}

// Has reports whether the named field is set.
func (e *Event) Has(name string) bool { return e.Get(name) != "" }

// SetUser sets user.name, user.domain and user.original from a user name
// as a source wrote it (see Users.Normalize). user.original is set only
// when it cannot be told from the other two: when it is neither user.name
// nor user.name@user.domain (the form of most web and mail logs, whose
// copy cost the store 5 bytes per event).
func (e *Event) SetUser(src *Source, raw string) {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "-" {
		return
	}
	name, domain := src.Users.Normalize(raw)
	e.Add(FieldUserName, name)
	e.Add(FieldUserDomain, domain)
	if raw != name && !isUPN(raw, name, domain) {
		e.Add(FieldUserOriginal, raw)
	}
}

// isUPN reports whether raw is exactly name@domain.
func isUPN(raw, name, domain string) bool {
	return domain != "" && len(raw) == len(name)+1+len(domain) &&
		strings.HasPrefix(raw, name) && raw[len(name)] == '@' && strings.HasSuffix(raw, domain)
}

// Users normalizes user names so that one person has one name across every
// source: `CORP\ZhangWei`, `zhangwei@corp.example` and `zhangwei` all become
// `zhangwei`. The zero value (or nil) works.
type Users struct {
	// Domains maps a domain as sources write it (NetBIOS name, DNS name,
	// UPN suffix; any case) to the canonical domain reported as
	// user.domain. Unmapped domains are reported lowercased.
	Domains map[string]string
}

// Normalize returns the user name (lowercase, without domain) and the
// canonical domain of raw. Machine accounts keep their trailing "$".
func (u *Users) Normalize(raw string) (name, domain string) {
	name = strings.TrimSpace(raw)
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		domain, name = name[:i], name[i+1:]
	} else if i := strings.LastIndexByte(name, '@'); i > 0 {
		name, domain = name[:i], name[i+1:]
	}
	name = strings.ToLower(name)
	domain = strings.ToLower(strings.TrimSpace(domain))
	if u != nil && domain != "" {
		for k, v := range u.Domains {
			if strings.EqualFold(k, domain) {
				domain = strings.ToLower(v)
				break
			}
		}
	}
	return name, domain
}
