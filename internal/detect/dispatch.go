package detect

// dispatch picks the rules an event can match before any rule runs: most
// events (proxy access lines) match the `match` of a few rules only, so
// the others should cost nothing per event.
//
// The fields named in the rules' match maps (event.dataset,
// event.category, event.outcome, ...) are the index. An event's values of
// them, each mapped to the position of that value among those the rules
// name (0: a value no rule names, missing included unless a rule names
// ""), form its signature; the rules whose match accepts a signature are
// computed the first time it is seen, in the rules' order, and
// remembered. match is an exact comparison of those values, so the list
// is exactly the rules whose match passes: processRule need not check it
// again.
type dispatch struct {
	fields []ref
	values []map[string]byte // by field: value -> its number (from 1)
	names  [][]string        // by field: the values by number (0: "")
	all    []*compiled
	bySig  map[string][]*compiled
	sig    []byte // the current event's signature (reused)
	// last is, by field, the last value looked up that a rule names (the
	// rules' copy of it) and lastN its number: events repeat their
	// datasets and categories, so a comparison mostly replaces the map
	// lookup. lastSig and lastRules are the previous signature's rules.
	last      []string
	lastN     []byte
	lastSig   []byte
	lastRules []*compiled
}

// maxSignatures bounds the signatures remembered; events of further ones
// have their rules filtered on every event (still without the VM).
const maxSignatures = 4096

// newDispatch indexes rules by the fields of their match maps. A field
// with more than 254 distinct values in the rules is left out of the
// index (its rules check it themselves, see indexed).
func newDispatch(names *fieldNames, rules []*compiled) *dispatch {
	d := &dispatch{all: rules, bySig: map[string][]*compiled{}}
	pos := map[string]int{}
	for _, r := range rules {
		for _, m := range r.match {
			i, ok := pos[m.field.name]
			if !ok {
				i = len(d.fields)
				pos[m.field.name] = i
				d.fields = append(d.fields, names.ref(m.field.name))
				d.values = append(d.values, map[string]byte{})
				d.names = append(d.names, []string{""})
			}
			for _, v := range m.values {
				if _, ok := d.values[i][v]; !ok && len(d.names[i]) < 255 {
					d.values[i][v] = byte(len(d.names[i]))
					d.names[i] = append(d.names[i], v)
				}
			}
		}
	}
	for i := range d.fields {
		if len(d.names[i]) == 255 { // too many values: not indexed
			d.values[i], d.names[i] = nil, nil
		}
	}
	d.last, d.lastN = make([]string, len(d.fields)), make([]byte, len(d.fields))
	for i := range d.fields {
		d.lastN[i] = d.values[i][""] // "" is the first value looked up
	}
	for _, r := range rules {
		r.indexed = true
		for _, m := range r.match {
			if d.names[pos[m.field.name]] == nil {
				r.indexed = false
			}
		}
	}
	return d
}

// rules returns the rules whose match ev may pass: exactly those whose
// match passes, for rules whose match fields are all indexed.
func (d *dispatch) rules(ev *Event) []*compiled {
	d.sig = d.sig[:0]
	for i, f := range d.fields {
		var n byte
		if d.values[i] != nil {
			if v := ev.field(f); v == d.last[i] {
				n = d.lastN[i]
			} else if n = d.number(i, v); n != 0 {
				d.last[i], d.lastN[i] = d.names[i][n], n
			}
		}
		d.sig = append(d.sig, n)
	}
	if d.lastSig != nil && string(d.sig) == string(d.lastSig) {
		return d.lastRules
	}
	rs, ok := d.bySig[string(d.sig)]
	if !ok {
		rs = d.match()
	}
	d.lastSig, d.lastRules = append(d.lastSig[:0], d.sig...), rs
	return rs
}

// number returns the number of v among field i's values (0: none names
// it): by comparison when the rules name few values, as they mostly do,
// else by the map.
func (d *dispatch) number(i int, v string) byte {
	if names := d.names[i]; len(names) <= 16 {
		for n := 1; n < len(names); n++ {
			if names[n] == v {
				return byte(n)
			}
		}
		return 0
	}
	return d.values[i][v]
}

// match returns the rules that accept the current signature, and
// remembers them while fewer than maxSignatures are known.
func (d *dispatch) match() []*compiled {
	var rs []*compiled
	for _, r := range d.all {
		if d.accepts(r) {
			rs = append(rs, r)
		}
	}
	if len(d.bySig) < maxSignatures {
		d.bySig[string(d.sig)] = rs
	}
	return rs
}

// accepts reports whether r's match passes for an event of the current
// signature, as far as indexed fields tell.
func (d *dispatch) accepts(r *compiled) bool {
	for _, m := range r.match {
		i := d.index(m.field.name)
		if d.names[i] == nil {
			continue // not indexed: the rule checks it
		}
		n := d.sig[i]
		ok := false
		for _, v := range m.values {
			// 0 is a value no rule names (every value of m is named).
			if n != 0 && v == d.names[i][n] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (d *dispatch) index(name string) int {
	for i, f := range d.fields {
		if f.name == name {
			return i
		}
	}
	return -1
}
