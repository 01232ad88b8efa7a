package detect

import (
	"encoding/gob"
	"fmt"
	"io"
	"sort"
)

// stateVersion changes when the checkpoint layout does.
const stateVersion = 1

type snapshot struct {
	Version      int
	Newest, Tick int64
	Rules        []ruleState
	// Sources is each sender's progress, least recently seen first
	// (absent from checkpoints written before it existed: gob leaves it
	// empty, and every sender starts afresh).
	Sources []*source
}

type ruleState struct {
	ID, Hash string
	Start    int64
	// Groups, least recently seen first.
	Groups []*group
}

// Snapshot writes the engine's whole state (windows, learned values,
// suppression, the event-time clock and each sender's progress) to w.
func (e *Engine) Snapshot(w io.Writer) error {
	s := snapshot{Version: stateVersion, Newest: e.newest, Tick: e.tick, Sources: e.srcs.all()}
	for _, r := range e.rules {
		rs := ruleState{ID: r.ID, Hash: r.hash, Start: r.start}
		r.groups.each(func(g *group) { rs.Groups = append(rs.Groups, g) })
		s.Rules = append(s.Rules, rs)
	}
	if err := gob.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("detect: write state: %w", err)
	}
	return nil
}

// Reset drops the engine's whole state, as if it had seen no event.
func (e *Engine) Reset() {
	e.newest, e.tick = 0, 0
	e.srcs.restore(nil)
	for _, c := range e.rules {
		c.start = 0
		c.groups.each(func(g *group) { g.release(e.budget) })
		c.groups = newGroupTable(c)
		c.groups.budget = e.budget
	}
}

// Restore replaces the engine's state with one written by Snapshot. The
// state of a rule that changed since (or no longer exists) is dropped:
// that rule starts empty. It returns the ids of the rules restored.
func (e *Engine) Restore(r io.Reader) ([]string, error) {
	var s snapshot
	if err := gob.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("detect: read state: %w", err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("detect: state version %d, want %d", s.Version, stateVersion)
	}
	byID := map[string]*compiled{}
	for _, c := range e.rules {
		byID[c.ID] = c
	}
	e.newest, e.tick = s.Newest, s.Tick
	e.srcs.restore(s.Sources)
	var restored []string
	for _, rs := range s.Rules {
		c, ok := byID[rs.ID]
		if !ok || c.hash != rs.Hash {
			continue
		}
		c.start = rs.Start
		c.groups.each(func(g *group) { g.release(e.budget) })
		c.groups = newGroupTable(c)
		c.groups.budget = e.budget
		for _, g := range rs.Groups {
			if g == nil || c.groups.m[g.Key] != nil || len(c.groups.m) >= c.MaxGroups {
				continue
			}
			g.sanitize(c)
			c.groups.add(g)
		}
		restored = append(restored, rs.ID)
	}
	return restored, nil
}

// sanitize makes a restored group consistent with its rule, so that a
// damaged or hand-edited checkpoint cannot make the engine index out of
// range later.
func (g *group) sanitize(r *compiled) {
	if n := len(g.Seqs); n > r.Payloads || g.SeqNext < 0 || g.SeqNext > n || n == r.Payloads && g.SeqNext == n {
		g.Seqs, g.SeqNext = nil, 0
	}
	if len(g.Masks) != len(g.Times) && r.Type == TypeSequence || !sort.SliceIsSorted(g.Times, func(i, j int) bool { return g.Times[i] < g.Times[j] }) {
		g.Times, g.Masks = nil, nil
	}
	if r.Type == TypeThreshold && len(g.Times) > r.Threshold {
		g.Times = nil
	}
	for v, at := range g.Vals {
		if at == nil {
			delete(g.Vals, v)
		}
	}
	if len(g.SinceSeqs) > 10 {
		g.SinceSeqs = g.SinceSeqs[:10]
	}
	if g.Since < 0 {
		g.Since = 0
	}
}
