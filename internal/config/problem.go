package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the configuration file ("" for the built-in defaults or
	// text given to ParseYAML).
	File string
	// Line is the line in File the problem is on, 0 when unknown.
	Line int
	// Path names the key, e.g. inputs.syslog[0].addr; "" for the file as
	// a whole.
	Path string
	Msg  string
	// Tolerated problems do not stop vigil serve from starting: what they
	// concern is left out and reported while it runs (a rule file that
	// does not load). vigil config check counts them like the others.
	Tolerated bool
}

// String formats the problem as FILE:LINE: PATH: MSG, leaving out what is
// unknown.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	// A message of several lines (an expression error with its caret)
	// continues indented, so that each problem starts a line of its own.
	b.WriteString(strings.ReplaceAll(p.Msg, "\n", "\n    "))
	return b.String()
}

// Problems is everything wrong with a configuration. As an error it reads
// one problem per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the problems by line, those without one last, keeping the
// order of problems on the same line.
func (ps Problems) Sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
}

// Fatal returns the problems that are not tolerated.
func (ps Problems) Fatal() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Tolerated {
			out = append(out, p)
		}
	}
	return out
}

// Err returns ps as an error, nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// source remembers where a configuration came from: the file and the line
// of every key path in it.
type source struct {
	file  string
	lines map[string]int
}

// File returns the file the configuration was read from, "" for the
// built-in defaults.
func (c *Config) File() string {
	if c.src == nil {
		return ""
	}
	return c.src.file
}

// Line returns the line of the key path (e.g. inputs.syslog[0].addr) in the
// file, or of the nearest enclosing key that is in the file; 0 when none is.
func (c *Config) Line(path string) int {
	if c.src == nil {
		return 0
	}
	for path != "" {
		if l, ok := c.src.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// Problem returns a problem with the key path, located in the file.
func (c *Config) Problem(path, format string, args ...any) Problem {
	return Problem{File: c.File(), Line: c.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// problemsOf turns an error from a Validate method into problems under the
// key path: one per joined error, each error's leading "key: " (or
// "key[i]: ") appended to path when that names a key below it.
func (c *Config) problemsOf(path string, err error) Problems {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var ps Problems
		for _, e := range j.Unwrap() {
			ps = append(ps, c.problemsOf(path, e)...)
		}
		return ps
	}
	return Problems{c.Problem(path, "%s", err.Error())}
}

// parentPath drops the last element of a key path: a.b[1].c -> a.b[1] ->
// a.b -> a -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// asProblems returns the problems err holds, or nil when it is another kind
// of error.
func asProblems(err error) (Problems, bool) {
	var ps Problems
	if errors.As(err, &ps) {
		return ps, true
	}
	return nil, false
}

// Closest returns the candidate nearest to word (ignoring case) if it is
// close enough to be a likely typo, or a prefix of a candidate is (brute-forse
// for brute-force-source); "" when none is.
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	limit := max(1, min(max(2, len(w)/4), len(w)-1))
	best, bestNear, bestFull := "", limit+1, 0
	for _, c := range candidates {
		lc := strings.ToLower(c)
		full := editDistance(w, lc)
		near := full
		if len(w) >= 4 && len(lc) > len(w) {
			near = min(near, editDistance(w, lc[:len(w)]))
		}
		if near < bestNear || near == bestNear && best != "" && full < bestFull {
			best, bestNear, bestFull = c, near, full
		}
	}
	if bestNear > limit {
		return ""
	}
	return best
}

// DidYouMean returns " (did you mean X?)" naming the candidate closest to
// word, or "" when none is close.
func DidYouMean(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" && c != word {
		return " (did you mean " + c + "?)"
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
