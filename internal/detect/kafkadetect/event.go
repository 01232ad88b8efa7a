package kafkadetect

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/store"
)

// decoder turns the records of the detection topic (an event's JSON as
// the Kafka output writes it, payload json) back into rows.
type decoder struct {
	p fastjson.Parser
}

var errNotObject = errors.New("not a JSON object")

// decode fills row from the JSON object in value ("_time" is the event
// time, every other key a field). The strings are copied.
func (d *decoder) decode(value []byte, row *store.Row) error {
	v, err := d.p.ParseBytes(value)
	if err != nil {
		return err
	}
	o, err := v.Object()
	if err != nil {
		return errNotObject
	}
	row.Time, row.Fields = time.Time{}, row.Fields[:0]
	var terr error
	o.Visit(func(k []byte, v *fastjson.Value) {
		s := v.GetStringBytes()
		if string(k) == "_time" {
			row.Time, terr = time.Parse(time.RFC3339Nano, string(s))
			return
		}
		row.Fields = append(row.Fields, store.Field{Name: string(k), Value: string(s)})
	})
	return terr
}

// rawOf returns the original record an event was published with.
func rawOf(r *kgo.Record) []byte {
	for _, h := range r.Headers {
		if h.Key == output.RawHeader {
			return h.Value
		}
	}
	return nil
}
