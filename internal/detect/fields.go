package detect

import "hash/maphash"

// ref names an event field a rule reads, with the id the engine gave the
// name: lookups by id are remembered per event, so the many rules that
// read event.dataset or source.ip find it once.
type ref struct {
	id   int
	name string
}

// fieldNames interns the names of the fields rules read.
type fieldNames struct {
	ids   map[string]int
	names []string
}

// ref returns the reference for name, giving it an id the first time.
func (f *fieldNames) ref(name string) ref {
	if id, ok := f.ids[name]; ok {
		return ref{id, f.names[id]}
	}
	if f.ids == nil {
		f.ids = map[string]int{}
	}
	id := len(f.names)
	f.ids[name] = id
	f.names = append(f.names, name)
	return ref{id, name}
}

// lookups remembers, for the event being evaluated, where each field id
// was found. gen moves on for every event, which forgets all entries at
// once.
type lookups struct {
	n     uint64 // events seen, from 1: the current event's number
	gen   uint32
	gens  []uint32 // by id: the generation idx belongs to
	idx   []int32  // by id: index in Event.Fields, -1 for missing
	hgens []uint32 // by id: the generation hash belongs to
	hash  []uint64 // by id: the value's hash (condition cache keys)
}

// next prepares l for a new event with n field ids.
func (l *lookups) next(n int) {
	if len(l.gens) < n {
		l.gens = append(l.gens, make([]uint32, n-len(l.gens))...)
		l.idx = append(l.idx, make([]int32, n-len(l.idx))...)
		l.hgens = append(l.hgens, make([]uint32, n-len(l.hgens))...)
		l.hash = append(l.hash, make([]uint64, n-len(l.hash))...)
	}
	l.n++
	l.gen++
	if l.gen == 0 { // wrapped: entries of old generations must not match
		clear(l.gens)
		clear(l.hgens)
		l.gen = 1
	}
}

// field returns the value of the field r names, or "".
func (e *Event) field(r ref) string {
	l := e.look
	if l == nil || r.id >= len(l.gens) {
		return e.Get(r.name)
	}
	if l.gens[r.id] == l.gen {
		if i := l.idx[r.id]; i >= 0 {
			return e.Fields[i].Value
		}
		return ""
	}
	i := int32(e.index(r.name))
	l.gens[r.id], l.idx[r.id] = l.gen, i
	if i < 0 {
		return ""
	}
	return e.Fields[i].Value
}

// hash returns the hash of the value of the field r names (seeded with
// seed, the same for every event).
func (e *Event) hash(r ref, seed maphash.Seed) uint64 {
	l := e.look
	if l == nil || r.id >= len(l.hgens) {
		return maphash.String(seed, e.Get(r.name))
	}
	if l.hgens[r.id] != l.gen {
		l.hgens[r.id], l.hash[r.id] = l.gen, maphash.String(seed, e.field(r))
	}
	return l.hash[r.id]
}
