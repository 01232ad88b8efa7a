package kafkadetect

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxSources bounds the sources whose high-water mark the detector keeps:
// past it, the tenth of them that went longest without an event are
// forgotten (counted).
const MaxSources = 100_000

// mark is the high-water mark of one source.
type mark struct {
	pos  uint64 // the highest position processed
	ts   int64  // the latest record timestamp processed (Kafka sources)
	last uint64 // the detection topic's offset of its last event processed
}

// dedupe drops the events published twice (docs/architecture.md,
// "Scale-out detection"): every event published for detection names its
// source and a position that only grows within it (output.SourceHeader),
// and an event whose position is not above its source's high-water mark
// was processed already. Its marks are part of the detector's checkpoint.
// It is used by one goroutine at a time.
type dedupe struct {
	marks map[string]*mark
	max   int
	m     dedupeMetrics
}

type dedupeMetrics struct {
	dup, evicted prometheus.Counter
	sources      prometheus.Gauge
}

func newDedupe() *dedupe {
	return &dedupe{marks: map[string]*mark{}, max: MaxSources, m: dedupeMetrics{
		dup: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_duplicate_events_total",
			Help: "Events of the detection topic dropped because their source's position was processed already (published twice)."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_sources_evicted_total",
			Help: "Sources whose high-water mark was forgotten because more than the most kept were seen."}),
		sources: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_kafka_sources",
			Help: "Sources (raw Kafka partitions, node journals) whose high-water mark the detector keeps."}),
	}}
}

func (f *dedupe) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.m.dup, f.m.evicted, f.m.sources}
}

// parseSource splits a SourceHeader value, "SOURCE/POSITION" or
// "SOURCE/POSITION@TIMESTAMP", into its parts.
func parseSource(v []byte) (key []byte, pos uint64, ts int64, ok bool) {
	i := bytes.LastIndexByte(v, '/')
	if i <= 0 {
		return nil, 0, 0, false
	}
	key, rest := v[:i], v[i+1:]
	p, t, hasTS := bytes.Cut(rest, []byte("@"))
	pos, err := strconv.ParseUint(string(p), 10, 64)
	if err != nil {
		return nil, 0, 0, false
	}
	if hasTS {
		if ts, err = strconv.ParseInt(string(t), 10, 64); err != nil {
			return nil, 0, 0, false
		}
	}
	return key, pos, ts, true
}

// accept reports whether the event at offset seq of the detection topic,
// whose SourceHeader is src, is new, and moves its source's mark if so.
// An event without a (readable) source is always new.
//
// A position at or below the mark is a duplicate, unless the record's
// timestamp is later than every one processed from the source: then the
// source's topic was deleted and re-created (offsets start again), and
// the mark starts again from this record.
func (f *dedupe) accept(src []byte, seq uint64) bool {
	key, pos, ts, ok := parseSource(src)
	if !ok {
		return true
	}
	m := f.marks[string(key)]
	switch {
	case m == nil:
		f.add(string(key), &mark{pos: pos, ts: ts, last: seq})
		return true
	case pos > m.pos || ts > m.ts:
		m.pos, m.ts, m.last = pos, max(m.ts, ts), seq
		return true
	}
	f.m.dup.Inc()
	return false
}

// add adds a source's mark, forgetting the tenth of the marks that went
// longest without an event when there are more than f.max.
func (f *dedupe) add(key string, m *mark) {
	f.marks[key] = m
	if len(f.marks) > f.max {
		type entry struct {
			key  string
			last uint64
		}
		all := make([]entry, 0, len(f.marks))
		for k, m := range f.marks {
			all = append(all, entry{k, m.last})
		}
		slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.last, b.last) })
		n := len(f.marks) - f.max + f.max/10
		for _, e := range all[:n] {
			delete(f.marks, e.key)
		}
		f.m.evicted.Add(float64(n))
	}
	f.m.sources.Set(float64(len(f.marks)))
}

// savedMark is a mark in the checkpoint.
type savedMark struct {
	Source string `json:"s"`
	Pos    uint64 `json:"p"`
	TS     int64  `json:"t,omitempty"`
	Last   uint64 `json:"l"`
}

// MarshalJSON returns the marks, in source order.
func (f *dedupe) MarshalJSON() ([]byte, error) {
	out := make([]savedMark, 0, len(f.marks))
	for k, m := range f.marks {
		out = append(out, savedMark{k, m.pos, m.ts, m.last})
	}
	slices.SortFunc(out, func(a, b savedMark) int { return cmp.Compare(a.Source, b.Source) })
	return json.Marshal(out)
}

// UnmarshalJSON replaces the marks with those in data.
func (f *dedupe) UnmarshalJSON(data []byte) error {
	var in []savedMark
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("high-water marks: %w", err)
	}
	f.reset()
	for _, m := range in {
		f.marks[m.Source] = &mark{pos: m.Pos, ts: m.TS, last: m.Last}
	}
	f.m.sources.Set(float64(len(f.marks)))
	return nil
}

// reset forgets every mark (a checkpoint without them).
func (f *dedupe) reset() {
	clear(f.marks)
	f.m.sources.Set(0)
}
