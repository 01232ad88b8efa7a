package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checker walks a YAML node tree against the configuration's types before
// it is decoded. It records the line of every key path and reports, by key
// path and line, each unknown or repeated key and each value of the wrong
// kind, removing them from the tree so that the rest decodes and is
// validated too. The messages name keys and kinds of values (a duration, a
// list), never Go or YAML types.
type checker struct {
	file  string
	lines map[string]int
	probs Problems
	// aliased holds the anchored nodes walked already: each is checked
	// once, however often (or recursively) aliases name it.
	aliased map[*yaml.Node]bool
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

func (c *checker) add(line int, path, format string, args ...any) {
	c.probs = append(c.probs, Problem{File: c.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) noteLine(path string, line int) {
	if _, ok := c.lines[path]; !ok && path != "" {
		c.lines[path] = line
	}
}

// walk checks the value n against type t at key path p and reports whether
// n can be decoded; the caller drops it when not.
func (c *checker) walk(n *yaml.Node, t reflect.Type, p string) bool {
	c.noteLine(p, n.Line)
	if n.Kind == yaml.AliasNode {
		if c.aliased[n.Alias] || n.Alias == nil {
			return true // checked where it is anchored (or left to the decoder)
		}
		if c.aliased == nil {
			c.aliased = map[*yaml.Node]bool{}
		}
		c.aliased[n.Alias] = true
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return c.scalar(n, t, p, "a duration (e.g. 72h, 3d)")
	case t == byteSizeType:
		return c.scalar(n, t, p, "a size (e.g. 64MiB, 1GiB)")
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return c.wrongKind(n, p, "keys with values (key: value)")
		}
		fields, names := structFields(t)
		c.mapping(n, p, func(k *yaml.Node) (reflect.Type, string, bool) {
			f, ok := fields[k.Value]
			if !ok {
				c.add(k.Line, keyPath(p, k.Value), "unknown key%s", DidYouMean(k.Value, names))
			}
			return f, keyPath(p, k.Value), ok
		}, t)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return c.wrongKind(n, p, "keys with values (key: value)")
		}
		c.mapping(n, p, func(k *yaml.Node) (reflect.Type, string, bool) {
			if k.Kind != yaml.ScalarNode {
				c.add(k.Line, p, "a key must be a single value, not %s", describe(k))
				return nil, "", false
			}
			return t.Elem(), keyPath(p, k.Value), true
		}, t)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return c.wrongKind(n, p, "a list")
		}
		for i, e := range n.Content {
			ep := p + "[" + strconv.Itoa(i) + "]"
			if !c.walk(e, t.Elem(), ep) {
				n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: e.Line, Column: e.Column}
			}
		}
	case reflect.Bool:
		return c.scalar(n, t, p, "true or false")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return c.scalar(n, t, p, "a whole number")
	case reflect.Float32, reflect.Float64:
		return c.scalar(n, t, p, "a number")
	default:
		return c.scalar(n, t, p, "text")
	}
	return true
}

// mapping checks the pairs of the mapping n at path p: key returns the
// type and path of a key's value, or false (having reported why) to drop
// the pair. A key given twice is reported and its second value dropped.
// Merge keys (<<) are checked against t, the mapping's own type.
func (c *checker) mapping(n *yaml.Node, p string, key func(k *yaml.Node) (reflect.Type, string, bool), t reflect.Type) {
	seen := map[string]int{}
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if c.merge(v, t, p) {
				kept = append(kept, k, v)
			}
			continue
		}
		vt, kp, ok := key(k)
		if !ok {
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.add(k.Line, kp, "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		c.noteLine(kp, k.Line)
		if c.walk(v, vt, kp) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

// merge checks the value of a merge key: a mapping or a list of them.
func (c *checker) merge(v *yaml.Node, t reflect.Type, p string) bool {
	if v.Kind == yaml.SequenceNode {
		ok := true
		for _, e := range v.Content {
			ok = c.merge(e, t, p) && ok
		}
		return ok
	}
	if v.Kind != yaml.MappingNode && v.Kind != yaml.AliasNode {
		return c.wrongKind(v, p, "keys with values to merge (<<: *anchor)")
	}
	return c.walk(v, t, p)
}

// scalar checks that n is a single value that decodes into t.
func (c *checker) scalar(n *yaml.Node, t reflect.Type, p, want string) bool {
	if n.Kind != yaml.ScalarNode {
		return c.wrongKind(n, p, want)
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		c.add(n.Line, p, "%q is not %s", n.Value, want)
		return false
	}
	return true
}

func (c *checker) wrongKind(n *yaml.Node, p, want string) bool {
	if n.Kind == yaml.ScalarNode {
		c.add(n.Line, p, "%q is not %s", n.Value, want)
	} else {
		c.add(n.Line, p, "wants %s, not %s", want, describe(n))
	}
	return false
}

// describe names the kind of a node for a message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys with values"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an empty value"
}

func keyPath(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}

// structFields returns the YAML keys of struct type t (inline fields
// included) with their types, and the keys in declaration order.
func structFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if strings.Contains(","+opts+",", ",inline,") {
				add(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
			names = append(names, name)
		}
	}
	add(t)
	return fields, names
}

// yamlLine matches the line yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a YAML syntax error into a problem with its line.
func syntaxProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return Problem{File: file, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
