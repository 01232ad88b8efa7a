package parse

import (
	"testing"

	"github.com/vigil-soc/vigil/internal/journal"
)

// TestEventID: an id is unique across journals and stable for the same
// message; a Kafka record keeps its id however often and wherever it is
// read.
func TestEventID(t *testing.T) {
	kafka := []byte("kafka:mail/3/1234@1764286754000")
	id := func(journalID uint64, rec journal.Record) string {
		return string(AppendEventID(nil, journalID, &rec))
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same record", id(7, journal.Record{Seq: 5}), id(7, journal.Record{Seq: 5}), true},
		{"next record", id(7, journal.Record{Seq: 5}), id(7, journal.Record{Seq: 6}), false},
		{"same seq on another node", id(7, journal.Record{Seq: 5}), id(8, journal.Record{Seq: 5}), false},
		{"Kafka record read twice", id(7, journal.Record{Seq: 5, Origin: kafka}), id(7, journal.Record{Seq: 90, Origin: kafka}), true},
		{"Kafka record read by two nodes", id(7, journal.Record{Seq: 5, Origin: kafka}), id(8, journal.Record{Seq: 5, Origin: kafka}), true},
		{"another Kafka offset", id(7, journal.Record{Origin: kafka}), id(7, journal.Record{Origin: []byte("kafka:mail/3/1235@1764286754000")}), false},
		{"a re-created topic", id(7, journal.Record{Origin: kafka}), id(7, journal.Record{Origin: []byte("kafka:mail/3/1234@1764290000000")}), false},
	}
	for _, tt := range tests {
		if len(tt.a) != EventIDLen || len(tt.b) != EventIDLen {
			t.Fatalf("%s: ids %q %q are not %d hex digits", tt.name, tt.a, tt.b, EventIDLen)
		}
		if (tt.a == tt.b) != tt.same {
			t.Errorf("%s: %s and %s, want same=%v", tt.name, tt.a, tt.b, tt.same)
		}
	}
	if got := id(0x20b7d55d9be5d415, journal.Record{Seq: 2000}); got != "20b7d55d9be5d41500000000000007d0" {
		t.Errorf("journal id and seq in hex: %s", got)
	}
}
