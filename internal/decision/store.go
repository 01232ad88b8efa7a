package decision

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/lists"
)

// Options configure a Store.
type Options struct {
	// Policy is what the Store lets through.
	Policy Policy
	// Allow holds the allow lists (role allow) consulted by the policy;
	// nil: none.
	Allow *lists.Set
	// Now is the clock (default time.Now): Created times, expiry,
	// retention.
	Now func() time.Time
	// Registerer receives the Store's metrics (default: none).
	Registerer prometheus.Registerer
	// Logger logs refusals and recovery (default: discarded).
	Logger *slog.Logger
	// Dir is where the decision log is kept (created 0700, the log 0600);
	// "": in memory only.
	Dir string
	// Retention is how long expired and deleted decisions stay in the
	// history after their end; 0: forever.
	Retention time.Duration
}

// Store is the set of decisions and their history. It is safe for
// concurrent use.
type Store struct {
	opts   Options
	now    func() time.Time
	logger *slog.Logger
	m      *metrics

	mu            sync.RWMutex
	closed        bool
	nextID        int64
	seq           int64              // change sequence: one per add and per delete
	items         []*item            // in ID order
	byID          map[int64]*item    // every decision held
	subj          map[string][]*item // undeleted ip/user/device decisions by subject key
	ranges        []*item            // undeleted range decisions
	byAlert       map[string]*item   // decisions made for an alert, deleted ones included (alertKey)
	dl            *dlog              // nil: in memory only
	changes       int                // adds and deletes since the last compaction
	minCompact    int                // changes between compactions at least
	heldAtCompact int                // decisions held after the last compaction
}

// item is one decision with its places in the change sequence.
type item struct {
	d      Decision
	addSeq int64
	delSeq int64 // 0 while not deleted
	pre    netip.Prefix
}

// Open returns a Store with opts. With a Dir it replays the decision log
// found there (a torn or unreadable line is skipped, logged and counted)
// and compacts it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		opts:       opts,
		now:        opts.Now,
		logger:     opts.Logger,
		nextID:     1,
		minCompact: 1024,
		byID:       map[int64]*item{},
		subj:       map[string][]*item{},
		byAlert:    map[string]*item{},
	}
	m, err := newMetrics(opts.Registerer, s)
	if err != nil {
		return nil, fmt.Errorf("decision: %w", err)
	}
	s.m = m
	if opts.Dir == "" {
		return s, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLog(opts.Dir); err != nil {
		return nil, err
	}
	// A failed compaction (a full disk) leaves the log as it was, valid
	// and open for appending.
	if err := s.compactLocked(s.now()); err != nil {
		s.m.compactErrors.Inc()
		s.logger.Error("decision log: compaction failed", "err", err)
	}
	return s, nil
}

// Close closes the decision log; later changes fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.dl != nil {
		return s.dl.f.Close()
	}
	return nil
}

// Now returns the Store's clock's time.
func (s *Store) Now() time.Time { return s.now() }

// Policy returns the Store's policy.
func (s *Store) Policy() Policy { return s.opts.Policy }

func subjKey(scope Scope, value string) string {
	return string(scope) + "\x00" + key(scope, value)
}

// alertKey identifies the decision of one type an alert made on one
// subject.
func alertKey(d *Decision) string {
	return d.Alert + "\x00" + string(d.Type) + "\x00" + subjKey(d.Scope, d.Value)
}

// Add validates d, applies the policy and records d, returning it with
// its ID and Created set. Value is stored in canonical form (Normalize);
// Until must be after now. A decision of a rule while enforcement is not
// enabled, or any decision in dry-run mode, is recorded with DryRun set.
//
// When a decision of the same subject and type was made for the same
// alert (even one deleted since: an alert read again after a crash does
// not undo an operator's deletion), or an undeleted one has the same
// dry-run state and lasts at least as long, Add returns that one and
// records nothing (counted as refused, reason "duplicate").
//
// Errors wrap ErrInvalid, ErrOwnNetwork, ErrPrivate, ErrAllowListed or
// ErrCapReached (see Reason) when the decision is refused.
func (s *Store) Add(ctx context.Context, d Decision) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	d, err := s.add(d)
	if err != nil {
		s.m.refused.WithLabelValues(Reason(err)).Inc()
		s.logger.Info("decision refused", "scope", d.Scope, "value", d.Value, "origin", d.Origin, "err", err)
	}
	return d, err
}

func (s *Store) add(d Decision) (Decision, error) {
	now := s.now()
	if err := s.validate(&d, now); err != nil {
		return d, err
	}
	p := &s.opts.Policy
	if p.DryRun || (!p.Enabled && strings.HasPrefix(d.Origin, "rule:")) {
		d.DryRun = true
	}
	if err := p.refuse(&d, s.opts.Allow, now); err != nil {
		return d, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return d, ErrClosed
	}
	if old := s.coveringLocked(&d, now); old != nil {
		s.m.refused.WithLabelValues("duplicate").Inc()
		return old.d, nil
	}
	if !d.DryRun && p.MaxActiveBans > 0 && s.activeCountLocked(now) >= p.MaxActiveBans {
		return d, fmt.Errorf("%s %s: %w (%d)", d.Scope, d.Value, ErrCapReached, p.MaxActiveBans)
	}
	d.ID = s.nextID
	d.Created = now
	d.Deleted, d.DeletedBy = time.Time{}, ""
	if err := s.appendLocked(record{Op: "add", Seq: s.seq + 1, D: &d}); err != nil {
		return d, err
	}
	s.nextID++
	s.seq++
	s.insertLocked(&item{d: d, addSeq: s.seq})
	s.m.added.WithLabelValues(OriginKind(d.Origin)).Inc()
	s.maybeCompactLocked(now)
	return d, nil
}

// validate checks d's fields and puts its value in canonical form.
func (s *Store) validate(d *Decision, now time.Time) error {
	var err error
	if d.Scope, err = ParseScope(string(d.Scope)); err != nil {
		return err
	}
	if d.Type == "" {
		d.Type = TypeBan
	}
	if d.Type, err = ParseType(string(d.Type)); err != nil {
		return err
	}
	if d.Value, err = Normalize(d.Scope, d.Value); err != nil {
		return err
	}
	if d.Origin == "" {
		return fmt.Errorf("%w: no origin", ErrInvalid)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"origin", d.Origin, maxOriginLen}, {"reason", d.Reason, maxReasonLen}, {"alert", d.Alert, maxValueLen}} {
		if len(f.v) > f.max || !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not valid UTF-8 of at most %d bytes", ErrInvalid, f.name, f.max)
		}
	}
	if !d.Until.After(now) {
		return fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, d.Until.Format(time.RFC3339))
	}
	return nil
}

// coveringLocked returns a decision of d's subject and type made for the
// same alert, or an undeleted one of the same dry-run state lasting at
// least as long as d, or nil.
func (s *Store) coveringLocked(d *Decision, now time.Time) *item {
	if d.Alert != "" {
		if it := s.byAlert[alertKey(d)]; it != nil {
			return it
		}
	}
	var cands []*item
	if d.Scope == ScopeRange {
		cands = s.ranges
	} else {
		cands = s.subj[subjKey(d.Scope, d.Value)]
	}
	for _, it := range cands {
		o := &it.d
		if o.Scope != d.Scope || key(o.Scope, o.Value) != key(d.Scope, d.Value) || o.Type != d.Type {
			continue
		}
		// An equal decision lasting at least as long.
		if o.DryRun == d.DryRun && o.Until.After(now) && !o.Until.Before(d.Until) {
			return it
		}
	}
	return nil
}

// activeCountLocked counts the decisions enforced at now.
func (s *Store) activeCountLocked(now time.Time) int {
	n := 0
	s.eachIndexedLocked(func(it *item) {
		if it.d.Active(now) {
			n++
		}
	})
	return n
}

func (s *Store) eachIndexedLocked(f func(*item)) {
	for _, l := range s.subj {
		for _, it := range l {
			f(it)
		}
	}
	for _, it := range s.ranges {
		f(it)
	}
}

// insertLocked adds it, whose ID is the highest, to the history and, when
// undeleted, to the index.
func (s *Store) insertLocked(it *item) {
	s.items = append(s.items, it)
	s.byID[it.d.ID] = it
	if it.d.Alert != "" {
		s.byAlert[alertKey(&it.d)] = it
	}
	if it.d.Deleted.IsZero() {
		s.indexLocked(it)
	}
}

func (s *Store) indexLocked(it *item) {
	if it.d.Scope == ScopeRange {
		it.pre, _ = netip.ParsePrefix(it.d.Value)
		s.ranges = append(s.ranges, it)
		return
	}
	k := subjKey(it.d.Scope, it.d.Value)
	s.subj[k] = append(s.subj[k], it)
}

func (s *Store) unindexLocked(it *item) {
	if it.d.Scope == ScopeRange {
		s.ranges = slices.DeleteFunc(s.ranges, func(x *item) bool { return x == it })
		return
	}
	k := subjKey(it.d.Scope, it.d.Value)
	l := slices.DeleteFunc(s.subj[k], func(x *item) bool { return x == it })
	if len(l) == 0 {
		delete(s.subj, k)
	} else {
		s.subj[k] = l
	}
}

// Delete deletes decision id on behalf of by (recorded as DeletedBy). The
// decision stays in the history. Deleting a deleted decision is an error
// wrapping ErrNotFound, as is an unknown id.
func (s *Store) Delete(ctx context.Context, id int64, by string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	it := s.byID[id]
	if it == nil || !it.d.Deleted.IsZero() {
		return fmt.Errorf("decision %d: %w", id, ErrNotFound)
	}
	now := s.now()
	if err := s.appendLocked(record{Op: "del", Seq: s.seq + 1, ID: id, At: now, By: by}); err != nil {
		return err
	}
	s.seq++
	it.delSeq = s.seq
	it.d.Deleted = now
	it.d.DeletedBy = by
	s.unindexLocked(it)
	s.maybeCompactLocked(now)
	return nil
}

// Get returns decision id, if the Store holds it.
func (s *Store) Get(id int64) (Decision, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if it := s.byID[id]; it != nil {
		return it.d, true
	}
	return Decision{}, false
}

// Active returns the decisions enforced at now (not expired, not
// deleted, not dry run), in ID order.
func (s *Store) Active(now time.Time) []Decision {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Decision
	s.eachIndexedLocked(func(it *item) {
		if it.d.Active(now) {
			out = append(out, it.d)
		}
	})
	slices.SortFunc(out, func(a, b Decision) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Changes returns what changed after cursor since (0: from the start), for
// a bouncer's stream, and the cursor to pass next time. added holds the
// enforced (not dry-run) decisions created after since and not deleted:
// some may have expired, the caller filters them with its clock. deleted
// holds the enforced decisions deleted after since (those created after
// since too: harmless to a bouncer that never saw them). Expiry is not a
// change: bouncers expire decisions by their duration.
func (s *Store) Changes(since int64) (added, deleted []Decision, cursor int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// items are in addSeq order: skip those added up to since for added.
	first, _ := slices.BinarySearchFunc(s.items, since+1, func(it *item, seq int64) int { return cmp.Compare(it.addSeq, seq) })
	for _, it := range s.items[first:] {
		if !it.d.DryRun && it.delSeq == 0 {
			added = append(added, it.d)
		}
	}
	for _, it := range s.items {
		if !it.d.DryRun && it.delSeq > since {
			deleted = append(deleted, it.d)
		}
	}
	return added, deleted, s.seq
}

// Cursor returns the current end of the change sequence: Changes(Cursor())
// returns nothing until something changes.
func (s *Store) Cursor() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// Check returns the decision enforced at now that matches a request from
// ip by user (normalized like user.name) with ActiveSync DeviceId device
// (any case); empty or invalid arguments match nothing. When several
// match, the strongest type wins (ban, captcha, throttle), then the one
// lasting longest.
func (s *Store) Check(now time.Time, ip netip.Addr, user, device string) (Decision, bool) {
	var keys [3]string
	n := 0
	if ip.IsValid() {
		ip = ip.Unmap()
		keys[n] = subjKey(ScopeIP, ip.String())
		n++
	}
	if user != "" {
		if u, err := Normalize(ScopeUser, user); err == nil {
			keys[n] = subjKey(ScopeUser, u)
			n++
		}
	}
	if device = strings.TrimSpace(device); device != "" {
		keys[n] = subjKey(ScopeDevice, device)
		n++
	}
	var best *Decision
	consider := func(it *item) {
		if !it.d.Active(now) {
			return
		}
		if best == nil || it.d.Type.strength() > best.Type.strength() ||
			(it.d.Type == best.Type && it.d.Until.After(best.Until)) {
			best = &it.d
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range keys[:n] {
		for _, it := range s.subj[k] {
			consider(it)
		}
	}
	if ip.IsValid() {
		for _, it := range s.ranges {
			if it.pre.Contains(ip) {
				consider(it)
			}
		}
	}
	if best == nil {
		return Decision{}, false
	}
	return *best, true
}

// Filter selects decisions for List.
type Filter struct {
	Scope  Scope      // "" any
	Value  string     // "" any; else the subject, in any form Normalize accepts
	IP     netip.Addr // when valid: ip decisions of it and ranges containing it
	Origin string     // "" any; else an exact origin or a prefix ending in ':' ("rule:")
	Alert  string     // "" any; else the decisions made for this alert id
	// States selects by state at Now; empty: active and dry-run.
	States []State
	Now    time.Time // zero: the Store's clock
	Limit  int       // at most this many, newest first; 0: all
}

// List returns the decisions f selects, newest (highest ID) first,
// deleted and expired ones included when f.States asks for them.
func (s *Store) List(f Filter) []Decision {
	if f.Now.IsZero() {
		f.Now = s.now()
	}
	states := f.States
	if len(states) == 0 {
		states = []State{StateActive, StateDryRun}
	}
	if f.Value != "" && f.Scope != "" {
		if v, err := Normalize(f.Scope, f.Value); err == nil {
			f.Value = v
		}
	}
	ip := f.IP.Unmap()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Decision
	for i := len(s.items) - 1; i >= 0; i-- {
		d := &s.items[i].d
		switch {
		case f.Scope != "" && d.Scope != f.Scope,
			f.Value != "" && key(d.Scope, d.Value) != key(d.Scope, f.Value),
			f.Origin != "" && d.Origin != f.Origin && !(strings.HasSuffix(f.Origin, ":") && strings.HasPrefix(d.Origin, f.Origin)),
			f.Alert != "" && d.Alert != f.Alert,
			!slices.Contains(states, d.State(f.Now)):
			continue
		}
		if ip.IsValid() {
			if p, ok := subjectPrefix(d); !ok || !p.Contains(ip) {
				continue
			}
		}
		out = append(out, *d)
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out
}
