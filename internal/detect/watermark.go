package detect

import (
	"container/list"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/parse"
)

// Event time per sender (docs/rules.md, "Event time").
//
// Every sender (host.hostname, else the address of log.source.address,
// else vigil.input) has its own progress: an event is late only when it is
// more than Options.Lateness behind the newest event of its own sender, so
// no other sender's clock can make it late.
//
// The engine's clock (Engine.newest), which moves the timers (absence,
// the end of suppression periods), is the newest event time placed on it.
// An event whose time is more than Options.MaxClockSkew ahead of its
// receive time (vigil.received) comes from a clock that runs ahead: it is
// placed near its receive time instead. The sender's lead (Offset) is
// measured on the first such event and kept while its events stay within
// MaxClockSkew of their receive time once shifted, so the spacing of the
// sender's own events, and with it its windows, stays exact; it is
// measured again when the clock jumps. The engine's clock therefore never
// runs more than MaxClockSkew ahead of the newest receive time, and a
// skewed sender's windows, suppression periods and alerts line up with
// everyone else's.
//
// Rules see two times for an event: its placed time (windows, alert
// times), and its time on the engine's clock, never more than the
// lateness behind the clock (suppression periods, absence): a sender whose
// clock runs behind, or that delivers a backlog, is still seen as active
// now and cannot end a suppression period that started now.

const (
	// DefaultMaxSources bounds the senders whose progress the engine
	// tracks; beyond it the least recently seen is forgotten.
	DefaultMaxSources = 10_000
	// skewRecover is how long (receive time) a sender whose clock ran
	// ahead must send only in-step events before it counts as in step
	// again: it is logged again only when it drifts after that.
	skewRecover = 15 * time.Minute
	// maxSkewStatus bounds the skewed senders Status lists.
	maxSkewStatus = 100
	// maxSkewLogs bounds the senders logged as running ahead per minute
	// of receive time (hostnames cost a sender nothing to make up); the
	// next line logged says how many were left out.
	maxSkewLogs = 10
)

// source is one sender's progress. Exported fields are checkpointed; times
// are Unix nanoseconds.
type source struct {
	Key string
	// Newest is the newest placed time of the sender's events.
	Newest int64
	// Offset is how far the sender's clock runs ahead while its events
	// are more than MaxClockSkew ahead of their receive time (0: in step).
	Offset int64
	// SkewSince and SkewLast are the receive times of the first and the
	// last event ahead since the sender drifted (0: in step); Skew is the
	// last one's lead, SkewEvents counts them.
	SkewSince, SkewLast, Skew int64
	SkewEvents                int64

	elem *list.Element
}

// SkewedSource is a sender whose clock runs ahead, for Status.
type SkewedSource struct {
	// Source is the sender: host.hostname, else its address, else the
	// input's name.
	Source string `json:"source"`
	// Skew is how far its latest event was ahead of its receive time.
	Skew string `json:"skew"`
	// Since and LastSeen are the receive times of its first and latest
	// event ahead; Events counts them.
	Since    time.Time `json:"since"`
	LastSeen time.Time `json:"last_seen"`
	Events   int64     `json:"events"`
}

// sources tracks the senders, least recently seen evicted first.
type sources struct {
	max    int
	lru    *list.List // of *source; front: most recently seen
	m      map[string]*source
	skewed map[*source]struct{}
	// changed is set when the skewed senders changed since SkewedSources.
	changed bool

	// The receive time last read from vigil.received, for the next
	// event of the same batch.
	recvText string
	recvAt   int64
	// Log lines about senders running ahead in the minute (receive
	// time) that began at logMinute, and those left out.
	logMinute        int64
	logged, unlogged int

	tracked, skewedN prometheus.Gauge
	evicted, ahead   prometheus.Counter
}

func newSources(max int, reg prometheus.Registerer) *sources {
	s := &sources{
		max: max,
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_sources",
			Help: "Senders whose event-time progress the detection engine tracks."}),
		skewedN: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_skewed_sources",
			Help: "Senders whose clock runs more than detect.max_clock_skew ahead of the receive time (listed in /api/v1/status)."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_evicted_sources_total",
			Help: "Senders forgotten because the engine tracked its maximum; their next event starts their progress afresh."}),
		ahead: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_clock_skew_events_total",
			Help: "Events more than detect.max_clock_skew ahead of their receive time (evaluated near their receive time)."}),
	}
	s.reset()
	if reg != nil {
		reg.MustRegister(s.tracked, s.skewedN, s.evicted, s.ahead)
	}
	return s
}

// reset forgets every sender.
func (s *sources) reset() {
	s.lru, s.m, s.skewed = list.New(), map[string]*source{}, map[*source]struct{}{}
	s.changed = true
	s.tracked.Set(0)
	s.skewedN.Set(0)
}

// get returns the sender named key, adding it (as new) when it is not
// tracked.
func (s *sources) get(key string) (src *source, isNew bool) {
	if f := s.lru.Front(); f != nil && f.Value.(*source).Key == key {
		return f.Value.(*source), false // the previous event's sender
	}
	if src, ok := s.m[key]; ok {
		s.lru.MoveToFront(src.elem)
		return src, false
	}
	if len(s.m) >= s.max {
		s.remove(s.lru.Back().Value.(*source))
		s.evicted.Inc()
	}
	src = &source{Key: strings.Clone(key)} // key lives in the event's buffer
	s.add(src)
	return src, true
}

// add tracks src as the most recently seen sender.
func (s *sources) add(src *source) {
	src.elem = s.lru.PushFront(src)
	s.m[src.Key] = src
	s.tracked.Set(float64(len(s.m)))
	if src.SkewSince != 0 {
		s.setSkewed(src, true)
	}
}

func (s *sources) remove(src *source) {
	s.lru.Remove(src.elem)
	delete(s.m, src.Key)
	s.tracked.Set(float64(len(s.m)))
	s.setSkewed(src, false)
}

func (s *sources) setSkewed(src *source, on bool) {
	if _, was := s.skewed[src]; was == on {
		return
	}
	if on {
		s.skewed[src] = struct{}{}
	} else {
		delete(s.skewed, src)
	}
	s.changed = true
	s.skewedN.Set(float64(len(s.skewed)))
}

// all returns the senders, least recently seen first (for Snapshot).
func (s *sources) all() []*source {
	out := make([]*source, 0, len(s.m))
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		out = append(out, el.Value.(*source))
	}
	return out
}

// restore replaces the senders by those of a snapshot (least recently
// seen first); an old snapshot has none.
func (s *sources) restore(all []*source) {
	s.reset()
	for _, src := range all {
		if src == nil || s.m[src.Key] != nil {
			continue
		}
		if len(s.m) >= s.max {
			s.remove(s.lru.Back().Value.(*source))
		}
		if src.SkewSince == 0 {
			src.SkewLast, src.Skew, src.SkewEvents = 0, 0, 0
		}
		s.add(src)
	}
}

// place puts the event on the engine's clock: it returns the event's
// placed time and whether the event is late for its sender, and moves
// its sender's progress and the engine's clock on.
func (e *Engine) place(ev *Event, t int64) (placed int64, late bool) {
	s := e.srcs
	src, isNew := s.get(e.sourceKey(ev))
	placed = t
	if recv, ok := s.received(ev.field(e.env.received)); ok {
		tol := int64(e.opts.MaxClockSkew)
		if lead := t - recv; lead > tol {
			if d := t - src.Offset - recv; src.Offset == 0 || d > tol || d < -tol {
				src.Offset = lead // the first event ahead, or the clock jumped
			}
			placed = t - src.Offset
			e.ahead(src, lead, recv)
		} else {
			src.Offset = 0
			if src.SkewSince != 0 && recv-src.SkewLast >= int64(skewRecover) {
				e.opts.Log.Info("detect: a sender's clock is in step again", "source", src.Key,
					"skewed_events", src.SkewEvents)
				src.SkewSince, src.SkewLast, src.Skew, src.SkewEvents = 0, 0, 0, 0
				s.setSkewed(src, false)
			}
		}
	}
	if !isNew && placed < src.Newest-int64(e.opts.Lateness) {
		return placed, true
	}
	if isNew || placed > src.Newest {
		src.Newest = placed
	}
	if placed > e.newest {
		e.newest = placed
		e.m.lastEvent.Set(float64(time.Unix(0, placed).Unix()))
	}
	return placed, false
}

// ahead notes an event of src lead ahead of its receive time recv: the
// first one since the sender was in step is logged.
func (e *Engine) ahead(src *source, lead, recv int64) {
	s := e.srcs
	s.ahead.Inc()
	if src.SkewSince == 0 {
		src.SkewSince = recv
		if m := recv - recv%int64(time.Minute); m != s.logMinute {
			s.logMinute, s.logged = m, 0
		}
		if s.logged < maxSkewLogs {
			s.logged++
			args := []any{"source", src.Key, "skew", parse.FormatSkew(time.Duration(lead)), "max_clock_skew", e.opts.MaxClockSkew}
			if s.unlogged > 0 {
				args = append(args, "senders_not_logged_before", s.unlogged)
				s.unlogged = 0
			}
			e.opts.Log.Warn("detect: a sender's clock runs ahead of the receive time; its events are evaluated at their receive time", args...)
		} else {
			s.unlogged++
		}
	}
	src.SkewLast, src.Skew = recv, lead
	src.SkewEvents++
	s.setSkewed(src, true)
	s.changed = true
}

// sourceKey names the event's sender: host.hostname, else the address of
// log.source.address (without the port, which changes per connection),
// else the input's name.
func (e *Engine) sourceKey(ev *Event) string {
	if h := ev.field(e.env.hostname); h != "" {
		return h
	}
	if a := ev.field(e.env.peer); a != "" {
		if host, _, err := net.SplitHostPort(a); err == nil {
			return host
		}
		return a
	}
	return ev.field(e.env.input)
}

// received reads vigil.received (parse.ReceivedLayout); ok is false when
// the event has none (events built by hand) or it does not parse.
func (s *sources) received(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if v != s.recvText {
		t, err := time.Parse(parse.ReceivedLayout, v)
		if err != nil {
			return 0, false
		}
		s.recvText, s.recvAt = strings.Clone(v), t.UnixNano() // v lives in the event's buffer
	}
	return s.recvAt, true
}

// SkewedSources returns the senders whose clock runs ahead, the most
// recently seen first (at most 100).
func (e *Engine) SkewedSources() []SkewedSource {
	s := e.srcs
	s.changed = false
	out := make([]SkewedSource, 0, len(s.skewed))
	for src := range s.skewed {
		out = append(out, SkewedSource{Source: src.Key, Skew: parse.FormatSkew(time.Duration(src.Skew)),
			Since: time.Unix(0, src.SkewSince).UTC(), LastSeen: time.Unix(0, src.SkewLast).UTC(), Events: src.SkewEvents})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].LastSeen.After(out[j].LastSeen) || out[i].LastSeen.Equal(out[j].LastSeen) && out[i].Source < out[j].Source
	})
	if len(out) > maxSkewStatus {
		out = out[:maxSkewStatus]
	}
	return out
}

// skewChanged reports whether SkewedSources changed since it was last
// called.
func (e *Engine) skewChanged() bool { return e.srcs.changed }
