// Package input receives messages from the network and appends them to the journal.
package input

import "github.com/vigil-soc/vigil/internal/journal"

// Sink stores received records durably. Append is called concurrently by
// many input goroutines and returns after the records are in the journal.
// It must not keep recs or their Data after it returns: Data points into
// the input's receive buffers (journal.Journal copies what it appends).
type Sink interface {
	Append(recs []journal.Record) error
}
