package kafkadetect

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/store"
)

// decoder turns the records of the detection topic (an event's JSON as
// the Kafka output writes it, payload json) back into rows. It keeps the
// field names it has seen (they repeat from event to event) and puts each
// event's values in one string.
type decoder struct {
	p     fastjson.Parser
	names map[string]string
	buf   []byte
	spans []span
}

type span struct {
	name       string
	start, end int
}

// maxNames bounds the field names a decoder keeps.
const maxNames = 10_000

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
	if d.names == nil {
		d.names = make(map[string]string)
	}
	row.Time, row.Fields = time.Time{}, row.Fields[:0]
	d.buf, d.spans = d.buf[:0], d.spans[:0]
	var terr error
	o.Visit(func(k []byte, v *fastjson.Value) {
		s := v.GetStringBytes()
		if string(k) == "_time" {
			row.Time, terr = time.Parse(time.RFC3339Nano, string(s))
			return
		}
		name, ok := d.names[string(k)]
		if !ok {
			name = string(k)
			if len(d.names) < maxNames {
				d.names[name] = name
			}
		}
		start := len(d.buf)
		d.buf = append(d.buf, s...)
		d.spans = append(d.spans, span{name, start, len(d.buf)})
	})
	vals := string(d.buf)
	for _, sp := range d.spans {
		row.Fields = append(row.Fields, store.Field{Name: sp.name, Value: vals[sp.start:sp.end]})
	}
	return terr
}

// headers returns the original record an event was published with and
// its source (output.SourceHeader).
func headers(r *kgo.Record) (raw, src []byte) {
	for _, h := range r.Headers {
		switch h.Key {
		case output.RawHeader:
			raw = h.Value
		case output.SourceHeader:
			src = h.Value
		}
	}
	return raw, src
}

const (
	// maxDecoders bounds the goroutines that decode one poll's records,
	// and minChunk is the fewest records worth a goroutine of its own.
	maxDecoders = 4
	minChunk    = 512
)

// batcher turns a poll's records into a batch for the detector: the
// records are decoded in chunks on several CPUs (the detector itself
// runs on one goroutine).
type batcher struct {
	decs []decoder
	rows []store.Row
	ok   []bool
	seqs []uint64
	raws [][]byte
	srcs [][]byte // the batch's events' sources (nil: none)
	keep []store.Row
}

func newBatcher() *batcher {
	return &batcher{decs: make([]decoder, min(runtime.GOMAXPROCS(0), maxDecoders))}
}

// batch returns the batch of recs (offsets as sequence numbers) and how
// many records were not an event's JSON (left out). It is valid until
// the next call.
func (b *batcher) batch(recs []*kgo.Record) (*index.Batch, int) {
	n := len(recs)
	if cap(b.rows) < n {
		b.rows = make([]store.Row, n)
		b.ok = make([]bool, n)
	}
	b.rows, b.ok = b.rows[:n], b.ok[:n]
	workers := min(len(b.decs), max(n/minChunk, 1))
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				b.ok[i] = b.decs[w].decode(recs[i].Value, &b.rows[i]) == nil
			}
		})
	}
	wg.Wait()
	b.seqs, b.raws, b.srcs, b.keep = b.seqs[:0], b.raws[:0], b.srcs[:0], b.keep[:0]
	bad := 0
	for i, r := range recs {
		if !b.ok[i] {
			bad++
			continue
		}
		b.seqs = append(b.seqs, uint64(r.Offset))
		raw, src := headers(r)
		b.raws = append(b.raws, raw)
		b.srcs = append(b.srcs, src)
		b.keep = append(b.keep, b.rows[i])
	}
	var received time.Time
	if n > 0 {
		received = recs[0].Timestamp
	}
	return index.NewBatch(b.seqs, b.keep, b.raws, received), bad
}
