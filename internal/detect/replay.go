package detect

import (
	"bytes"
	"sort"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// Offline holds records parsed for an offline run (`vigil rules test`):
// the events in event-time order and the original text of each, for
// payloads.
type Offline struct {
	events []*Event
	raw    map[uint64][]byte
}

// NewOffline parses recs with p (the server's parser), keeping their order
// (the journal's order, as the live detector sees them).
func NewOffline(p *parse.Parser, recs []journal.Record) *Offline {
	o := &Offline{raw: make(map[uint64][]byte, len(recs))}
	size := 0
	for i := range recs {
		size += len(recs[i].Data)
	}
	p.Reset(2 * size) // one arena for all: the events keep their strings
	for i := range recs {
		rec := &recs[i]
		var row store.Row
		p.Parse(rec, &row)
		raw := rec.Data
		if t := p.Text(); len(t) > 0 && &t[0] != &raw[0] {
			raw = bytes.Clone(t) // decoded: Text is the record itself otherwise
		}
		o.events = append(o.events, &Event{Seq: rec.Seq, Time: row.Time, Fields: row.Fields, Raw: raw})
		o.raw[rec.Seq] = raw
	}
	return o
}

// SortByTime orders the events by event time (stable: equal times keep
// input order), so several files from several sources replay as they
// happened.
func (o *Offline) SortByTime() {
	sort.SliceStable(o.events, func(i, j int) bool { return o.events[i].Time.Before(o.events[j].Time) })
}

// Events returns the parsed events in event-time order.
func (o *Offline) Events() []*Event { return o.events }

// Payloads is a PayloadFunc over the records.
func (o *Offline) Payloads(seqs []uint64) map[uint64]string {
	out := make(map[uint64]string, len(seqs))
	for _, s := range seqs {
		if r, ok := o.raw[s]; ok {
			out[s] = string(r)
		}
	}
	return out
}

// Run feeds every event to e in event-time order.
func (o *Offline) Run(e *Engine) {
	for _, ev := range o.events {
		e.Process(ev)
	}
}

// Records turns lines into journal records numbered from first, received
// at now, from the input named input.
func Records(input string, lines [][]byte, first uint64, now time.Time) []journal.Record {
	recs := make([]journal.Record, len(lines))
	for i, l := range lines {
		recs[i] = journal.Record{Seq: first + uint64(i), Time: now, Input: input, Data: l}
	}
	return recs
}
