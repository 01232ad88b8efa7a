package detect

import (
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// cond is a compiled boolean condition; id indexes the engine's per-event
// memo. A condition is split at its top-level and, or and ?: into parts
// (op and parts), each a condition of its own: a part shared by several
// rules (event.dataset == "nginx.access") runs once per event, and each
// part reads, and is remembered by, only its own fields. A leaf is a
// field compared with a constant (test, answered without the VM) or a
// program.
type cond struct {
	id    int
	op    condOp
	parts []*cond // opAnd, opOr: left, right; opIf: condition, then, else
	test  test    // opTest
	prog  *vm.Program
	// fields are the event fields a program reads. A program that reads
	// few fields and no lists is a pure function of their values: its
	// results are remembered for values seen before (user agents, paths
	// and datasets repeat), until hits turn out too rare to pay.
	fields []ref
	// results is the table the results are kept in, shared by the
	// conditions that read the same fields (slot: this one's bit), so an
	// event's URL costs one probe for all the URL conditions; nil for a
	// condition that cannot be cached.
	results       *condCache
	slot          uint
	cache         bool // results may be kept
	hits, lookups int
}

// condCache is a table of condCacheMax entries in sets of two (see
// find), by the hash of the values of some fields: the hash and, for each condition
// sharing the table (up to condCacheSlots), whether its result is known
// and what it is. Allocated on the first result; dropped when no
// condition uses it any more.
type condCache struct {
	keys  []uint64
	known []uint16 // bit slot: the result of that condition is known
	vals  []uint16 // bit slot: its result
	users int      // conditions that share it and still cache
	// event and key: the key computed for the event of that number
	// (lookups.n; the first condition to run computes it for the others).
	event, key uint64
}

// condCacheSlots is how many conditions share one table.
const condCacheSlots = 16

type condOp uint8

const (
	opProg condOp = iota
	opTest
	opAnd
	opOr
	opIf
)

// Memo limits for cond.results.
const (
	// entries of a condition's table (a power of two), 512 KiB. URL
	// conditions see tens of thousands of distinct values: 16384 entries
	// hit 79% of lookups on the load generator's traffic, 65536 91%.
	condCacheMax   = 65536
	condCacheProbe = 8192 // lookups after which a useless cache is dropped
)

// cached returns the remembered result for the current values (key, the
// hash of their values), or ok false.
func (c *cond) cached(key uint64) (v, ok bool) {
	if !c.cache {
		return false, false
	}
	c.lookups++
	if t := c.results; t.keys != nil {
		if i := t.find(key); i >= 0 && t.known[i]&(1<<c.slot) != 0 {
			c.hits++
			v, ok = t.vals[i]&(1<<c.slot) != 0, true
		}
	}
	if c.lookups == condCacheProbe && c.hits*3 < c.lookups {
		// Fewer than a third hit: not worth the memory.
		c.cache = false
		if c.results.users--; c.results.users == 0 {
			c.results.keys, c.results.known, c.results.vals = nil, nil, nil
		}
	}
	return v, ok
}

// remember keeps a result (over whatever held its slot before).
func (c *cond) remember(key uint64, v bool) {
	if !c.cache {
		return
	}
	t := c.results
	if t.keys == nil {
		t.keys = make([]uint64, condCacheMax)
		t.known = make([]uint16, condCacheMax)
		t.vals = make([]uint16, condCacheMax)
	}
	i := t.find(key)
	if i < 0 {
		// A new key takes its set's first entry; the one there moves to
		// the second, whose entry (the less recently used) is dropped.
		i = int(key & (condCacheMax - 1) &^ 1)
		t.keys[i+1], t.known[i+1], t.vals[i+1] = t.keys[i], t.known[i], t.vals[i]
		t.keys[i], t.known[i], t.vals[i] = key, 0, 0
	}
	t.known[i] |= 1 << c.slot
	if v {
		t.vals[i] |= 1 << c.slot
	} else {
		t.vals[i] &^= 1 << c.slot
	}
}

// find returns the index of key's entry, or -1. The table is two-way set
// associative: a key may be in either entry of its set (a pair), so two
// frequent values whose hashes share a set do not evict each other on
// every event, as they would in a direct-mapped table. A key found in
// the second entry moves to the first, which keeps the set's most
// recently used entry first.
func (t *condCache) find(key uint64) int {
	i := int(key & (condCacheMax - 1) &^ 1)
	switch key {
	case t.keys[i]:
		return i
	case t.keys[i+1]:
		t.keys[i], t.keys[i+1] = t.keys[i+1], t.keys[i]
		t.known[i], t.known[i+1] = t.known[i+1], t.known[i]
		t.vals[i], t.vals[i+1] = t.vals[i+1], t.vals[i]
		return i
	}
	return -1
}

// condCache returns a results table for a condition over fields (sorted)
// and the condition's slot in it.
func (e *env) condCache(fields []string) (*condCache, uint) {
	k := strings.Join(fields, "\x00")
	t := e.caches[k]
	if t == nil || t.users == condCacheSlots {
		t = &condCache{}
		if e.caches == nil {
			e.caches = map[string]*condCache{}
		}
		e.caches[k] = t
	}
	t.users++
	return t, uint(t.users - 1)
}

// condition compiles a when expression, once per distinct text.
func (e *env) condition(src string) (*cond, error) {
	key := strings.TrimSpace(src)
	if c, ok := e.conds[key]; ok {
		return c, nil
	}
	// The whole text compiles first, so errors point into what the
	// user wrote.
	if _, _, err := e.compileFields(src, true); err != nil {
		return nil, err
	}
	if e.conds == nil {
		e.conds = map[string]*cond{}
	}
	tree, err := parser.Parse(key)
	var c *cond
	if err == nil {
		c, err = e.part(tree.Node)
	}
	if err != nil {
		// A part that does not compile on its own (a branch of ?: that
		// is not a bool): the condition runs whole.
		if c, err = e.leaf(key, nil); err != nil {
			return nil, err
		}
	}
	e.conds[key] = c
	return c, nil
}

// part compiles the condition n, split at and, or and ?:.
func (e *env) part(n ast.Node) (*cond, error) {
	text := n.String()
	if c, ok := e.conds[text]; ok {
		return c, nil
	}
	var c *cond
	var subs []ast.Node
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			c, subs = &cond{op: opAnd}, []ast.Node{n.Left, n.Right}
		case "||", "or":
			c, subs = &cond{op: opOr}, []ast.Node{n.Left, n.Right}
		}
	case *ast.ConditionalNode:
		c, subs = &cond{op: opIf}, []ast.Node{n.Cond, n.Exp1, n.Exp2}
	}
	if c == nil {
		return e.leaf(text, n)
	}
	for _, s := range subs {
		p, err := e.part(s)
		if err != nil {
			return nil, err
		}
		c.parts = append(c.parts, p)
	}
	c.id = e.ncond
	e.ncond++
	e.conds[text] = c
	return c, nil
}

// leaf compiles one part: a test when n is a field compared with a
// constant, a program otherwise.
func (e *env) leaf(text string, n ast.Node) (*cond, error) {
	c := &cond{op: opTest}
	var ok bool
	if c.test, ok = e.asTest(n); !ok {
		p, fields, err := e.compileFields(text, true)
		if err != nil {
			return nil, err
		}
		c = &cond{op: opProg, prog: p}
		for _, f := range fields {
			c.fields = append(c.fields, e.names.ref(f))
		}
		// Lists change at run time; everything else a condition can call
		// is a function of its arguments.
		c.cache = len(fields) > 0 && len(fields) <= 6 && !strings.Contains(text, "list(") &&
			!strings.Contains(text, "device_registered(") && !strings.Contains(text, "now(")
		if c.cache {
			c.results, c.slot = e.condCache(fields)
		}
	}
	c.id = e.ncond
	e.ncond++
	e.conds[text] = c
	return c, nil
}

// test is a field compared with a constant: field == "text", field !=
// "text", field in ["a", "b"], or a numeric field (numericFields) compared
// with an integer, with the accessors' meaning (a missing field is "" or
// 0).
type test struct {
	field ref
	op    string
	strs  []string
	num   int
	isNum bool
}

// asTest returns the test n is, if it is one.
func (e *env) asTest(n ast.Node) (test, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return test{}, false
	}
	name, ok := fieldOf(b.Left)
	if !ok {
		return test{}, false
	}
	t := test{field: e.names.ref(name), op: b.Operator, isNum: numericFields[name]}
	switch r := b.Right.(type) {
	case *ast.StringNode:
		if t.isNum || (t.op != "==" && t.op != "!=") {
			return test{}, false
		}
		t.strs = []string{r.Value}
	case *ast.IntegerNode:
		if !t.isNum {
			return test{}, false
		}
		switch t.op {
		case "==", "!=", "<", "<=", ">", ">=":
		default:
			return test{}, false
		}
		t.num = r.Value
	case *ast.ArrayNode:
		if t.isNum || t.op != "in" {
			return test{}, false
		}
		for _, v := range r.Nodes {
			s, ok := v.(*ast.StringNode)
			if !ok {
				return test{}, false
			}
			t.strs = append(t.strs, s.Value)
		}
	default:
		return test{}, false
	}
	return t, true
}

// fieldOf returns the field name n reads (event.outcome), if it is a
// plain field reference.
func fieldOf(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if isHelper(n.Value) || strings.HasPrefix(n.Value, "$") {
			return "", false
		}
		return n.Value, true
	case *ast.MemberNode:
		prop, ok := n.Property.(*ast.StringNode)
		if !ok || n.Method || n.Optional {
			return "", false
		}
		base, ok := fieldOf(n.Node)
		if !ok {
			return "", false
		}
		return base + "." + prop.Value, true
	}
	return "", false
}

func (t *test) eval(ev *Event) bool {
	v := ev.field(t.field)
	if t.isNum {
		n, _ := strconv.Atoi(v)
		switch t.op {
		case "==":
			return n == t.num
		case "!=":
			return n != t.num
		case "<":
			return n < t.num
		case "<=":
			return n <= t.num
		case ">":
			return n > t.num
		}
		return n >= t.num
	}
	switch t.op {
	case "==":
		return v == t.strs[0]
	case "!=":
		return v != t.strs[0]
	}
	return slices.Contains(t.strs, v)
}
