package detect

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"sort"

	"github.com/klauspost/compress/zstd"
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

// zstdMagic starts every zstd frame. A state written before states were
// compressed is a gob stream, which Restore tells apart by it.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// maxStateMemory bounds what decompressing a damaged state may allocate
// (with a window of at most 64 MiB; Snapshot writes a few MiB).
const maxStateMemory = 4 << 30

// Snapshot writes the engine's whole state (windows, learned values,
// suppression, the event-time clock and each sender's progress) to w, as a
// gob stream compressed with zstd (a quarter of its size: group keys,
// addresses and user names repeat).
func (e *Engine) Snapshot(w io.Writer) error {
	s := e.state()
	zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return fmt.Errorf("detect: write state: %w", err)
	}
	if err := gob.NewEncoder(zw).Encode(&s); err != nil {
		zw.Close()
		return fmt.Errorf("detect: write state: %w", err)
	}
	if err := zw.Close(); err != nil {
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
	s, err := readSnapshot(r)
	if err != nil {
		return nil, err
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

// state returns the engine's state as Snapshot writes it.
func (e *Engine) state() snapshot {
	s := snapshot{Version: stateVersion, Newest: e.newest, Tick: e.tick, Sources: e.srcs.all()}
	for _, r := range e.rules {
		rs := ruleState{ID: r.ID, Hash: r.hash, Start: r.start}
		r.groups.each(func(g *group) { rs.Groups = append(rs.Groups, g) })
		s.Rules = append(s.Rules, rs)
	}
	return s
}

// readSnapshot decodes a state written by Snapshot, compressed, or by an
// earlier version, plain.
func readSnapshot(r io.Reader) (snapshot, error) {
	var s snapshot
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(zstdMagic))
	var src io.Reader = br
	if bytes.Equal(head, zstdMagic) {
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxStateMemory), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return s, fmt.Errorf("detect: read state: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	if err := gob.NewDecoder(src).Decode(&s); err != nil {
		return s, fmt.Errorf("detect: read state: %w", err)
	}
	return s, nil
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
