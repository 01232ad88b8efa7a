// Package store defines the small interface between Vigil and its embedded
// search store, so that the engine behind it (today VictoriaLogs' storage in
// package vlstore) can be replaced without touching the pipeline or the API.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Field is one named value of an event. Names follow docs/schema.md.
type Field struct {
	Name  string
	Value string
}

// Row is one event as the store keeps it: its event time and its fields.
// The message text is the field named "_msg".
type Row struct {
	Time   time.Time
	Fields []Field
}

// Get returns the value of the named field, or "".
func (r *Row) Get(name string) string {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// ShapeField is a field a store may add to the rows it keeps, for its own
// use (vlstore: a hash of the row's field names, see vlstore.Add). Searches
// leave it out of their rows unless the query's pipes name it.
const ShapeField = "vigil.shape"

// Order is the order in which Search returns rows.
type Order int

// Orders.
const (
	// Newest returns the newest rows first (the default).
	Newest Order = iota
	// Oldest returns the oldest rows first.
	Oldest
	// Unordered streams rows as the store finds them: cheapest for exports.
	Unordered
)

// Scope is the side of the store a query searches: the events, or the
// alerts the detection engine raised. The two are kept apart so that
// event searches, facets and dashboards count events only.
type Scope int

// Scopes.
const (
	// Events are the stored log events (the default).
	Events Scope = iota
	// Alerts are the stored alerts (event.kind=alert, event.dataset=vigil.alert).
	Alerts
)

// String returns the scope's name as the API and CLI spell it.
func (s Scope) String() string {
	switch s {
	case Events:
		return "events"
	case Alerts:
		return "alerts"
	}
	return fmt.Sprintf("scope(%d)", int(s))
}

// ParseScope reads a scope as the API and CLI spell it: "events" (also
// "") or "alerts".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "events":
		return Events, nil
	case "alerts":
		return Alerts, nil
	}
	return 0, fmt.Errorf("unknown scope %q: want events or alerts", s)
}

// Query is a search request.
type Query struct {
	// Text is a LogsQL query ("*" matches everything).
	Text string
	// Scope selects events (the default) or alerts.
	Scope Scope
	// Start and End bound the event time; zero means unbounded.
	Start, End time.Time
	// Limit caps the number of rows; 0 means no limit.
	Limit int
	Order Order
}

// QueryError is returned for a query the store cannot parse. The API answers
// it with HTTP 400 and this message.
type QueryError struct {
	Msg string
}

func (e *QueryError) Error() string { return e.Msg }

// IsQueryError reports whether err is a *QueryError.
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}

// Store is an embedded event store with search and retention.
type Store interface {
	// Add stores rows. Rows become searchable about one second later.
	Add(rows []Row) error
	// Search calls fn for every matching row, one call at a time. It stops
	// early and returns fn's error if fn fails. The row and its strings
	// belong to the store until fn returns: fn copies what it keeps.
	Search(ctx context.Context, q Query, fn func(Row) error) error
	// Close flushes all added rows to disk and releases the store.
	Close() error
}
