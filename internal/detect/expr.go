package detect

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/parse"
)

// numericFields are read as integers in expressions (missing = 0); every
// other field is a string (missing = "").
var numericFields = map[string]bool{
	"source.port": true, "destination.port": true, "source.nat.port": true,
	"http.response.status_code": true, "http.response.bytes": true, "http.request.bytes": true,
	"event.duration": true, "network.bytes": true, "winlog.logon.type": true,
}

// IsNumericField reports whether expressions see the field as an integer.
func IsNumericField(name string) bool { return numericFields[name] }

// Names of the field accessors the patcher rewrites field references into,
// and of the functions behind a near condition's value and known.
const (
	fnString    = "_f"
	fnNumber    = "_n"
	fnNearValue = "_near_value"
	fnNearKnown = "_near_known"
)

// env is what expressions read: the event being evaluated and the
// enrichment sources. The engine evaluates on one goroutine, so the
// functions built over an env read its current event without locking.
type env struct {
	ev    *Event
	lists Lists
	geo   *geoip.DB
	// conds are the compiled conditions and their parts by source text,
	// so rules that share a condition, or a part of one, share its
	// program and its per-event result; ncond counts them (the ids).
	conds map[string]*cond
	ncond int
	// caches are the conditions' results tables by the fields they read
	// (condCache).
	caches map[string]*condCache
	// names gives every field a rule reads an id (kept across reloads:
	// ids only grow).
	names fieldNames
	// the fields the engine itself reads for allow lists
	srcIP, user, device ref
	// nearValue and nearKnown are what a new_value rule's near condition
	// reads as value and known, set before it runs.
	nearValue string
	nearKnown []string
	// placeIP and placeLoc remember the last address placed for the
	// event being evaluated (placed: valid), since the rules of the pack
	// ask about its source.ip several times.
	placeIP  netip.Addr
	placeLoc geoip.Location
	placed   bool
	// and for each sender's event time (watermark.go)
	hostname, peer, input, received ref
	// loc is the zone of the local template function (Options.Location).
	loc *time.Location
}

func newEnv(lists Lists, geo *geoip.DB) *env {
	e := &env{lists: lists, geo: geo}
	e.srcIP, e.user, e.device = e.names.ref("source.ip"), e.names.ref("user.name"), e.names.ref("device.id")
	e.hostname, e.peer = e.names.ref(parse.FieldHostname), e.names.ref(parse.FieldPeer)
	e.input, e.received = e.names.ref(parse.FieldInput), e.names.ref(parse.FieldReceived)
	return e
}

// helperNames are the functions rules may call, besides expr's builtins.
var helperNames = []string{
	fnString, fnNumber, fnNearValue, fnNearKnown, "has", "in_list", "in_cidr", "is_private", "country", "region", "city", "isp", "adjacent",
	"device_registered", "has_list", "first", "ip_version", "contains_any",
}

// options returns the expr options that compile src with helpers and field
// access bound to e; read, when not nil, collects the fields src reads.
func (e *env) options(src string, read map[string]bool) []expr.Option {
	str := func(p []any, i int) string { s, _ := p[i].(string); return s }
	// field reads an accessor's argument: a field id (what the patcher
	// writes) or a name.
	field := func(p []any) string {
		switch v := p[0].(type) {
		case int:
			if v < 0 || v >= len(e.names.names) {
				return "" // not an id the patcher wrote: _f(7) by hand
			}
			return e.ev.field(ref{v, e.names.names[v]})
		case string:
			return e.ev.Get(v)
		}
		return ""
	}
	return []expr.Option{
		expr.Patch(fieldPatcher{vars: letNames(src), read: read, names: &e.names}),
		expr.Function(fnString, func(p ...any) (any, error) {
			return field(p), nil
		}, new(func(int) string), new(func(string) string)),
		expr.Function(fnNumber, func(p ...any) (any, error) {
			n, _ := strconv.Atoi(field(p))
			return n, nil
		}, new(func(int) int), new(func(string) int)),
		expr.Function("has", func(p ...any) (any, error) {
			return e.ev.Get(str(p, 0)) != "", nil
		}, new(func(string) bool)),
		expr.Function("in_list", func(p ...any) (any, error) {
			if e.lists == nil {
				return false, nil
			}
			return e.lists.Contains(str(p, 0), fmt.Sprint(p[1])), nil
		}, new(func(string, string) bool), new(func(string, int) bool)),
		expr.Function("has_list", func(p ...any) (any, error) {
			return e.lists != nil && e.lists.HasList(str(p, 0)), nil
		}, new(func(string) bool)),
		expr.Function("device_registered", func(p ...any) (any, error) {
			if e.lists == nil {
				return false, nil
			}
			return e.lists.Registered(str(p, 0), str(p, 1)), nil
		}, new(func(string, string) bool)),
		expr.Function("in_cidr", func(p ...any) (any, error) {
			ip, err := netip.ParseAddr(str(p, 0))
			if err != nil {
				return false, nil
			}
			for _, c := range p[1:] {
				pfx, err := parsePrefix(str([]any{c}, 0))
				if err == nil && pfx.Contains(ip.Unmap()) {
					return true, nil
				}
			}
			return false, nil
		}, new(func(string, ...string) bool)),
		expr.Function("is_private", func(p ...any) (any, error) {
			ip, err := netip.ParseAddr(str(p, 0))
			return err == nil && geoip.Private(ip.Unmap()), nil
		}, new(func(string) bool)),
		expr.Function("country", func(p ...any) (any, error) {
			return e.place(str(p, 0)).Country, nil
		}, new(func(string) string)),
		expr.Function("region", func(p ...any) (any, error) {
			return e.place(str(p, 0)).Region, nil
		}, new(func(string) string)),
		expr.Function("city", func(p ...any) (any, error) {
			return e.place(str(p, 0)).City, nil
		}, new(func(string) string)),
		expr.Function("isp", func(p ...any) (any, error) {
			return e.place(str(p, 0)).ISP, nil
		}, new(func(string) string)),
		expr.Function("adjacent", func(p ...any) (any, error) {
			return geoip.Adjacent(str(p, 0), str(p, 1)), nil
		}, new(func(string, string) bool)),
		expr.Function(fnNearValue, func(p ...any) (any, error) {
			return e.nearValue, nil
		}, new(func() string)),
		expr.Function(fnNearKnown, func(p ...any) (any, error) {
			return e.nearKnown, nil
		}, new(func() []string)),
		expr.Function("ip_version", func(p ...any) (any, error) {
			ip, err := netip.ParseAddr(str(p, 0))
			switch {
			case err != nil:
				return 0, nil
			case ip.Unmap().Is4():
				return 4, nil
			}
			return 6, nil
		}, new(func(string) int)),
		expr.Function("contains_any", func(p ...any) (any, error) {
			s := str(p, 0)
			for i := 1; i < len(p); i++ {
				if sub := str(p, i); sub != "" && strings.Contains(s, sub) {
					return true, nil
				}
			}
			return false, nil
		}, new(func(string, ...string) bool)),
		expr.Function("first", func(p ...any) (any, error) {
			for i := range p {
				if s := str(p, i); s != "" {
					return s, nil
				}
			}
			return "", nil
		}, new(func(...string) string)),
	}
}

// place looks an address up in the GeoIP databases; nothing without them
// or for a text that is no address.
func (e *env) place(s string) geoip.Location {
	ip, err := netip.ParseAddr(s)
	if err != nil || e.geo == nil {
		return geoip.Location{}
	}
	if !e.placed || ip != e.placeIP {
		e.placeIP, e.placeLoc, e.placed = ip, e.geo.Lookup(ip), true
	}
	return e.placeLoc
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// compile compiles an expression over event fields. kind is the result
// type the caller needs (a bool condition or a string value).
func (e *env) compile(src string, asBool bool) (*vm.Program, error) {
	p, _, err := e.compileFields(src, asBool)
	return p, err
}

// compileFields compiles and also returns the fields the expression reads.
func (e *env) compileFields(src string, asBool bool) (*vm.Program, []string, error) {
	read := map[string]bool{}
	opts := e.options(src, read)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, nil, err
	}
	fields := make([]string, 0, len(read))
	for f := range read {
		if f != "" && !strings.HasSuffix(f, ".") {
			fields = append(fields, f)
		}
	}
	sort.Strings(fields)
	return p, fields, nil
}

// fieldPatcher rewrites field references into accessor calls, so rules can
// write event.outcome == "failure" or http.response.status_code >= 400:
// the dotted name becomes _f(ID) (a string) or _n(ID) (an integer, see
// numericFields), ID being the name's id in names. Field names with
// characters expr cannot parse are written _f("name") by hand; those
// become _f(ID) too.
type fieldPatcher struct {
	vars  map[string]bool // let-declared names
	read  map[string]bool // collects the fields read (may be nil)
	names *fieldNames
}

// letNames returns the names src declares with let, which the patcher
// must leave alone. A source that does not parse declares none (the
// compiler reports the syntax error).
func letNames(src string) map[string]bool {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	var c letCollector
	ast.Walk(&tree.Node, &c)
	return c.names
}

type letCollector struct{ names map[string]bool }

func (c *letCollector) Visit(node *ast.Node) {
	if v, ok := (*node).(*ast.VariableDeclaratorNode); ok {
		if c.names == nil {
			c.names = map[string]bool{}
		}
		c.names[v.Name] = true
	}
}

func isHelper(name string) bool {
	for _, h := range helperNames {
		if h == name {
			return true
		}
	}
	return false
}

func (p fieldPatcher) accessor(name string) ast.Node {
	fn := fnString
	if numericFields[name] {
		fn = fnNumber
	}
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{&ast.IntegerNode{Value: p.names.ref(name).id}}}
}

// accessed returns the field name an accessor call reads, if n is one, and
// whether it was written by hand (with the name, not the id).
func (p fieldPatcher) accessed(n ast.Node) (name string, byName, ok bool) {
	c, isCall := n.(*ast.CallNode)
	if !isCall || len(c.Arguments) != 1 {
		return "", false, false
	}
	id, isID := c.Callee.(*ast.IdentifierNode)
	if !isID || (id.Value != fnString && id.Value != fnNumber) {
		return "", false, false
	}
	switch a := c.Arguments[0].(type) {
	case *ast.StringNode:
		return a.Value, true, true
	case *ast.IntegerNode:
		if a.Value >= 0 && a.Value < len(p.names.names) {
			return p.names.names[a.Value], false, true
		}
	}
	return "", false, false
}

func (p fieldPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		// Walk is post-order: the callee of a helper call is visited as an
		// identifier too, so helpers stay as they are.
		if isHelper(n.Value) || n.Value == "$env" || p.vars[n.Value] {
			return
		}
		ast.Patch(node, p.accessor(n.Value))
		p.note(n.Value, "")
	case *ast.CallNode:
		if name, byName, ok := p.accessed(n); ok && byName {
			// written as _f("name") by hand: read by id like the rest
			n.Arguments[0] = &ast.IntegerNode{Value: p.names.ref(name).id}
			p.note(name, "")
		}
	case *ast.MemberNode:
		name, _, ok := p.accessed(n.Node)
		prop, isStr := n.Property.(*ast.StringNode)
		if !ok || !isStr || n.Method {
			return
		}
		ast.Patch(node, p.accessor(name+"."+prop.Value))
		p.note(name+"."+prop.Value, name)
	}
}

// note records a field read; a dotted name replaces its prefix, which was
// only a step of the member chain.
func (p fieldPatcher) note(name, prefix string) {
	if p.read == nil {
		return
	}
	if prefix != "" {
		delete(p.read, prefix)
	}
	p.read[name] = true
}
