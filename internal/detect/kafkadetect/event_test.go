package kafkadetect

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/store"
)

// TestBatch: the events' JSON as the Kafka output writes it comes back as
// the same rows, with their offsets as sequence numbers and their
// original records; records that are not an event's JSON are left out and
// counted.
func TestBatch(t *testing.T) {
	rows := []store.Row{
		{Time: t0, Fields: []store.Field{{Name: "_msg", Value: "a \"quoted\" line\n\tüñï"}, {Name: "source.ip", Value: "192.0.2.1"}}},
		{Time: t0.Add(time.Millisecond), Fields: []store.Field{{Name: "event.id", Value: "x"}, {Name: "user.name", Value: ""}}},
	}
	var recs []*kgo.Record
	for i := range 1500 { // more than one decoder's chunk
		row := rows[i%2]
		recs = append(recs, &kgo.Record{Offset: int64(100 + i), Value: eventjson.AppendRow(nil, &row),
			Headers: []kgo.RecordHeader{{Key: output.RawHeader, Value: []byte("raw")}}})
	}
	recs = append(recs, &kgo.Record{Offset: 2000, Value: []byte("not json")}, &kgo.Record{Offset: 2001, Value: []byte(`["x"]`)},
		&kgo.Record{Offset: 2002, Value: []byte(`{"_time":"yesterday"}`)})
	b, bad := newBatcher().batch(recs)
	if bad != 3 || len(b.Rows) != 1500 {
		t.Fatalf("%d rows, %d bad; want 1500 and 3", len(b.Rows), bad)
	}
	for i, r := range b.Rows {
		if want := rows[i%2]; !r.Time.Equal(want.Time) || !reflect.DeepEqual(r.Fields, want.Fields) {
			t.Fatalf("row %d: %+v, want %+v", i, r, want)
		}
		if b.Seqs[i] != uint64(100+i) || string(b.Raw(i)) != "raw" {
			t.Fatalf("row %d: seq %d raw %q", i, b.Seqs[i], b.Raw(i))
		}
	}
}
