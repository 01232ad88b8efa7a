package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// Peer is another node whose store every search reads too
// (cluster.peers): a search through any node finds the events of all.
type Peer interface {
	// Name is the peer's name (its cluster.name).
	Name() string
	// Search runs q on the peer's own store (the peer does not ask its
	// own peers), calling fn for each row as store.Store's Search does;
	// the peer's journaled events carry their event.id.
	Search(ctx context.Context, q store.Query, fn func(store.Row) error) error
	// Event returns the event with id from the peer's own store, with
	// its raw record, as the peer's Searches.Event does; an error
	// wrapping ErrNotFound when the peer has none.
	Event(ctx context.Context, id string, at time.Time) (*EventDetail, error)
}

// NodeFailure is a peer whose part of a search failed: the answer holds
// the other nodes' events.
type NodeFailure struct {
	Node  string `json:"node"`
	Error string `json:"error"`
}

// NodeField is the field that names an event's node in the rows of
// Rows and Export when there are peers.
const NodeField = "vigil.node"

// node is one store a search reads: this node's or a peer's.
type node struct {
	name string
	st   SearchStore
	peer Peer // nil for this node
}

func (s *Searches) self() node { return node{name: s.opt.Node, st: s.st} }

// nodes returns this node, then the peers.
func (s *Searches) nodes() []node {
	ns := []node{s.self()}
	for _, p := range s.opt.Peers {
		ns = append(ns, node{name: p.Name(), st: p, peer: p})
	}
	return ns
}

func (s *Searches) clustered() bool { return len(s.opt.Peers) > 0 }

// Clustered reports whether searches read peers too.
func (s *Searches) Clustered() bool { return s.clustered() }

// Local returns the Searches of this node's store alone: what a peer's
// request gets, so that nodes which list each other never search in
// circles.
func (s *Searches) Local() *Searches {
	if !s.clustered() {
		return s
	}
	l := *s
	l.opt.Peers = nil
	return &l
}

// errPeerTimeout is the cause of a peer's context that reached
// PeerTimeout.
var errPeerTimeout = errors.New("peer timeout")

// peerContext bounds a peer's part of a search by PeerTimeout.
func (s *Searches) peerContext(ctx context.Context, n node) (context.Context, context.CancelFunc) {
	if n.peer == nil || s.opt.PeerTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, s.opt.PeerTimeout, errPeerTimeout)
}

// peerFailure describes what went wrong with peer n's part of a search.
func (s *Searches) peerFailure(pctx context.Context, n node, err error) NodeFailure {
	if context.Cause(pctx) == errPeerTimeout {
		err = fmt.Errorf("no answer within %s (cluster.peer_timeout)", s.opt.PeerTimeout)
	}
	return NodeFailure{Node: n.name, Error: err.Error()}
}

// result is one node's answer to a fanout.
type result[T any] struct {
	node node
	val  T
}

// fanout runs fn on every node at once, each peer within PeerTimeout,
// and returns the answers of the nodes that gave one, this node first.
// This node's error is the error (a bad query fails everywhere); a
// peer's is one of the failures.
func fanout[T any](ctx context.Context, s *Searches, fn func(context.Context, node) (T, error)) ([]result[T], []NodeFailure, error) {
	ns := s.nodes()
	vals := make([]T, len(ns))
	errs := make([]error, len(ns))
	fails := make([]NodeFailure, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Go(func() {
			pctx, cancel := s.peerContext(ctx, n)
			defer cancel()
			vals[i], errs[i] = fn(pctx, n)
			if errs[i] != nil && n.peer != nil {
				fails[i] = s.peerFailure(pctx, n, errs[i])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if errs[0] != nil {
		return nil, nil, errs[0]
	}
	var out []result[T]
	var failed []NodeFailure
	for i, n := range ns {
		if errs[i] != nil {
			failed = append(failed, fails[i])
			continue
		}
		out = append(out, result[T]{node: n, val: vals[i]})
	}
	return out, failed, nil
}

// sortCluster orders the events of several nodes as a page does: newest
// first, then by node name, then by vigil.seq descending.
func sortCluster(evs []Event) {
	slices.SortStableFunc(evs, func(a, b Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return cmp.Compare(b.Seq(), a.Seq())
	})
}

// clusterCursor is where the next page of a search over several nodes
// starts: after the event of node at time t with vigil.seq seq, in the
// order of sortCluster.
type clusterCursor struct {
	pageCursor
	node string
}

func (c clusterCursor) String() string { return c.pageCursor.String() + "@" + c.node }

// parseClusterCursor reads a cursor of clusterPage ("" for the first
// page; a cursor without a node, as a single node gives, sorts before
// every node).
func parseClusterCursor(s string) (clusterCursor, error) {
	pc, name, _ := strings.Cut(s, "@")
	cur, err := parseCursor(pc)
	return clusterCursor{pageCursor: cur, node: name}, err
}

// at returns where node name's next page starts: its events at the
// cursor's time come before the cursor's node's (all shown), after them
// (none shown) or are the cursor node's own.
func (c clusterCursor) at(name string) pageCursor {
	switch {
	case c.t.IsZero():
		return pageCursor{}
	case name == c.node && c.seq > 0:
		return c.pageCursor
	case name <= c.node:
		// Shown already (or, without a sequence, not told apart: step
		// over the instant as a single node does).
		return pageCursor{t: c.t.Add(-time.Nanosecond)}
	}
	return pageCursor{t: c.t}
}

// clusterPage is Page over every node: each node's page from the
// cursor, merged in the order of sortCluster and cut to size.
func (s *Searches) clusterPage(ctx context.Context, req SearchRequest, size int, cursor string) (*Page, error) {
	cur, err := parseClusterCursor(cursor)
	if err != nil {
		return nil, err
	}
	res, failed, err := fanout(ctx, s, func(ctx context.Context, n node) (*Page, error) {
		return s.pageOn(ctx, n, req, size, cur.at(n.name))
	})
	if err != nil {
		return nil, err
	}
	p := &Page{Failed: failed}
	for _, r := range res {
		p.Events = append(p.Events, r.val.Events...)
		p.More = p.More || r.val.More
		p.Piped = r.val.Piped
	}
	if p.Piped {
		// Rows of pipes (stats, ...) are each node's: node by node.
		return p, nil
	}
	sortCluster(p.Events)
	if len(p.Events) > size {
		p.Events, p.More = p.Events[:size], true
	}
	if p.More && len(p.Events) > 0 {
		last := p.Events[len(p.Events)-1]
		p.Cursor = clusterCursor{pageCursor{t: last.Time, seq: last.Seq()}, last.Node}.String()
	}
	return p, nil
}

// clusterHistogram is Histogram over every node: the buckets summed.
func (s *Searches) clusterHistogram(ctx context.Context, req SearchRequest, offset time.Duration) (*Histogram, error) {
	res, failed, err := fanout(ctx, s, func(ctx context.Context, n node) (*Histogram, error) {
		return s.histogramOn(ctx, n, req, offset)
	})
	if err != nil {
		return nil, err
	}
	h := res[0].val
	for _, r := range res[1:] {
		for i := range min(len(h.Buckets), len(r.val.Buckets)) {
			h.Buckets[i].Count += r.val.Buckets[i].Count
		}
		h.Total += r.val.Total
	}
	h.Failed = failed
	return h, nil
}

// mergeFields sums the counts of the same values of the same fields of
// several nodes and keeps the top of each field, by name, the values by
// count (then value). A value each node counts below its own top is
// missed, as in any merge of top lists.
func mergeFields(res []result[[]FieldValues], top int) []FieldValues {
	if len(res) == 1 {
		return res[0].val
	}
	counts := map[string]map[string]uint64{}
	for _, r := range res {
		for _, f := range r.val {
			m := counts[f.Name]
			if m == nil {
				m = map[string]uint64{}
				counts[f.Name] = m
			}
			for _, v := range f.Values {
				m[v.Value] += v.Count
			}
		}
	}
	out := make([]FieldValues, 0, len(counts))
	for name, m := range counts {
		f := FieldValues{Name: name, Values: make([]ValueCount, 0, len(m))}
		for v, c := range m {
			f.Values = append(f.Values, ValueCount{Value: v, Count: c})
		}
		slices.SortFunc(f.Values, func(a, b ValueCount) int {
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			return strings.Compare(a.Value, b.Value)
		})
		if len(f.Values) > top {
			f.Values = f.Values[:top]
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b FieldValues) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// clusterEvent finds an event on the node named nodeName, or ("") on
// this node, else on the peers.
func (s *Searches) clusterEvent(ctx context.Context, id string, at time.Time, nodeName string) (*EventDetail, error) {
	var peers []node
	switch {
	case nodeName == "" || nodeName == s.opt.Node:
		d, err := s.eventOn(ctx, id, at)
		if err == nil {
			d.Node = s.opt.Node
		}
		if nodeName != "" || !errors.Is(err, ErrNotFound) {
			return d, err
		}
		peers = s.nodes()[1:]
	default:
		i := slices.IndexFunc(s.opt.Peers, func(p Peer) bool { return p.Name() == nodeName })
		if i < 0 {
			return nil, Invalidf("node: %q is not a node of this cluster (cluster.name, cluster.peers)", nodeName)
		}
		peers = []node{{name: nodeName, st: s.opt.Peers[i], peer: s.opt.Peers[i]}}
	}
	found := make([]*EventDetail, len(peers))
	fails := make([]NodeFailure, len(peers))
	var wg sync.WaitGroup
	for i, n := range peers {
		wg.Go(func() {
			pctx, cancel := s.peerContext(ctx, n)
			defer cancel()
			d, err := n.peer.Event(pctx, id, at)
			switch {
			case err == nil:
				d.Node = n.name
				found[i] = d
			case !errors.Is(err, ErrNotFound):
				fails[i] = s.peerFailure(pctx, n, err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var why []string
	for i := range peers {
		if found[i] != nil {
			return found[i], nil
		}
		if fails[i].Node != "" {
			why = append(why, fails[i].Node+": "+fails[i].Error)
		}
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("event %s: %w on the nodes that answered (not answering: %s)", id, ErrNotFound, strings.Join(why, "; "))
	}
	return nil, fmt.Errorf("event %s: %w on any node (outside the stores' retention, or the time given is not its time)", id, ErrNotFound)
}

// tailCursors are the tail cursors of each node, by name: "a:12,b:40".
type tailCursors map[string]string

func parseTailCursors(s string) (tailCursors, error) {
	c := tailCursors{}
	if s == "" {
		return c, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		name, seq, ok := strings.Cut(part, ":")
		if _, err := strconv.ParseUint(seq, 10, 64); !ok || err != nil {
			return nil, Invalidf("cursor: %q is not one a tail gave", s)
		}
		c[name] = seq
	}
	return c, nil
}

func (c tailCursors) String() string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + ":" + c[n])
	}
	return b.String()
}

// clusterTail is Tail over every node: each node is asked without
// waiting, every TailPoll, until one has new events or wait has passed.
func (s *Searches) clusterTail(ctx context.Context, req SearchRequest, cursor string, wait time.Duration) (*TailResult, error) {
	curs, err := parseTailCursors(cursor)
	if err != nil {
		return nil, err
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		res, failed, err := fanout(ctx, s, func(ctx context.Context, n node) (*TailResult, error) {
			return s.tailOn(ctx, n, req, curs[n.name], 0)
		})
		if err != nil {
			return nil, err
		}
		t := &TailResult{Failed: failed}
		for _, r := range res {
			curs[r.node.name] = r.val.Cursor
			t.Events = append(t.Events, r.val.Events...)
			t.Skipped = t.Skipped || r.val.Skipped
		}
		t.Cursor = curs.String()
		if len(t.Events) > 0 || cursor == "" {
			sortCluster(t.Events)
			if len(t.Events) > MaxTailEvents {
				t.Events, t.Skipped = t.Events[:MaxTailEvents], true
			}
			return t, nil
		}
		if done, err := s.pollWait(ctx, timeout.C); err != nil {
			return nil, err
		} else if done {
			return t, nil
		}
	}
}

// Rows runs one LogsQL query on every node (this node alone without
// peers) and calls fn for at most q.Limit rows (0: all), merged in q's
// order; with peers each row ends with NodeField. start is called once
// before the first row (or at the end when there is none) with the
// peers that failed by then; Rows returns those that failed later.
func (s *Searches) Rows(ctx context.Context, a Actor, q store.Query, start func([]NodeFailure), fn func(store.Row) error) ([]NodeFailure, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.mergeRows(ctx, q, start, fn)
}

// stream is one node's rows of mergeRows, copied, in order.
type stream struct {
	n    node
	ch   chan store.Row
	err  error // set before ch closes
	pctx context.Context
	head store.Row
	ok   bool // head holds a row
}

func (st *stream) next() bool {
	st.head, st.ok = <-st.ch
	return st.ok
}

// mergeRows is Rows without the permission check.
func (s *Searches) mergeRows(ctx context.Context, q store.Query, start func([]NodeFailure), fn func(store.Row) error) ([]NodeFailure, error) {
	if !s.clustered() {
		if start != nil {
			start(nil)
		}
		return nil, s.st.Search(ctx, q, fn)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // the searches still running end
		wg.Wait()
	}()
	var streams []*stream
	for _, n := range s.nodes() {
		pctx, pcancel := s.peerContext(ctx, n)
		st := &stream{n: n, ch: make(chan store.Row, 64), pctx: pctx}
		streams = append(streams, st)
		wg.Go(func() {
			defer pcancel()
			defer close(st.ch)
			st.err = n.st.Search(pctx, q, func(r store.Row) error {
				c := store.Row{Time: r.Time, Fields: make([]store.Field, 0, len(r.Fields)+1)}
				for _, f := range r.Fields {
					if f.Name != NodeField {
						c.Fields = append(c.Fields, store.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)})
					}
				}
				c.Fields = append(c.Fields, store.Field{Name: NodeField, Value: n.name})
				select {
				case st.ch <- c:
					return nil
				case <-pctx.Done():
					return pctx.Err()
				}
			})
		})
	}
	var failed []NodeFailure
	// ended takes the error of a stream that has no more rows: this
	// node's is the search's.
	ended := func(st *stream) error {
		if st.err == nil {
			return nil
		}
		if st.n.peer == nil {
			return explain(q.Text, st.err)
		}
		failed = append(failed, s.peerFailure(st.pctx, st.n, st.err))
		return nil
	}
	live := streams[:0:0]
	for _, st := range streams {
		if st.next() {
			live = append(live, st)
		} else if err := ended(st); err != nil {
			return nil, err
		}
	}
	if start != nil {
		start(failed)
	}
	early := len(failed)
	sent := 0
	for len(live) > 0 && (q.Limit <= 0 || sent < q.Limit) {
		i := 0
		for j, st := range live[1:] {
			t, best := st.head.Time, live[i].head.Time
			if q.Order == store.Newest && t.After(best) || q.Order == store.Oldest && t.Before(best) {
				i = j + 1
			}
		}
		st := live[i]
		if err := fn(st.head); err != nil {
			return failed[early:], err
		}
		sent++
		if !st.next() {
			live = slices.Delete(live, i, i+1)
			if err := ended(st); err != nil {
				return failed[early:], err
			}
		}
	}
	return failed[early:], nil
}

// EventID returns the event id of a row of this node's store: its
// event.id, else for a journaled event (not an alert) the id made of the
// journal's id and its vigil.seq; "" when it has neither. A peer adds it
// to the rows it gives another node, which cannot know its journal's id.
func (s *Searches) EventID(r *store.Row) string {
	if id := r.Get("event.id"); id != "" || r.Get("event.kind") == "alert" {
		return id
	}
	if seq, _ := strconv.ParseUint(r.Get("vigil.seq"), 10, 64); seq > 0 {
		return s.seqID(seq)
	}
	return ""
}

// pollWait waits TailPoll and reports whether timeout fired first, or
// ctx's error when it ends.
func (s *Searches) pollWait(ctx context.Context, timeout <-chan time.Time) (bool, error) {
	poll := time.NewTimer(s.opt.TailPoll)
	defer poll.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-timeout:
		return true, nil
	case <-poll.C:
		return false, nil
	}
}
