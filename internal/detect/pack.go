package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Loader reads a rule pack: the built-in rules, then rule folders and
// files, a later rule replacing an earlier one with the same id. It is the
// one loader of `vigil serve` (the detector), `vigil rules lint|list|test`
// and the console, so they all see the same rules and the same problems.
//
// A user file that fails (YAML, a bad value, an expression or template
// that does not compile) is left out as a whole; a Loader that loaded it
// before keeps its previous version running and says so in the error.
// Built-in rules that do not compile are left out one by one.
type Loader struct {
	// Builtin is the built-in pack (nil: none).
	Builtin fs.FS
	// Paths are rule folders (read recursively) or single files.
	Paths []string

	good map[string][]*Rule // user file -> its last version that loaded
}

// Load reads the pack. It returns every rule that loaded, disabled ones
// included, and one error per problem (each a *RuleError where it names
// a file).
func (l *Loader) Load() ([]*Rule, []error) {
	var sets [][]*Rule
	var errs []error
	if l.Builtin != nil {
		rs, e := LoadRules(l.Builtin, ".")
		errs = append(errs, e...)
		kept := rs[:0]
		for _, r := range rs {
			if err := Compile(r); err != nil {
				errs = append(errs, &RuleError{File: r.File, ID: r.ID, Err: err})
				continue
			}
			kept = append(kept, r)
		}
		sets = append(sets, kept)
	}
	good := map[string][]*Rule{}
	for _, p := range l.Paths {
		rs, e := l.loadPath(p, good)
		sets, errs = append(sets, rs), append(errs, e...)
	}
	l.good = good
	all, e := Merge(sets...)
	return all, append(errs, e...)
}

// loadPath reads one folder or file. Rule.File is the file's path.
func (l *Loader) loadPath(p string, good map[string][]*Rule) ([]*Rule, []error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, []error{fmt.Errorf("rules: %w", err)}
	}
	var rs []*Rule
	var errs []error
	if info.IsDir() {
		rs, errs = LoadRules(os.DirFS(p), ".")
		for _, r := range rs {
			r.File = filepath.Join(p, r.File)
		}
		for _, err := range errs {
			var re *RuleError
			if errors.As(err, &re) {
				re.File = filepath.Join(p, re.File)
			}
		}
	} else {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, []error{fmt.Errorf("rules: %w", err)}
		}
		rs, err = ParseRules(p, data)
		if err != nil {
			rs, errs = nil, []error{err}
		}
	}
	byFile := map[string][]*Rule{}
	var files []string
	for _, r := range rs {
		// A rule whose expressions do not compile breaks its file like a
		// YAML error does.
		if err := Compile(r); err != nil {
			errs = append(errs, &RuleError{File: r.File, ID: r.ID, Err: err})
			continue
		}
		if _, ok := byFile[r.File]; !ok {
			files = append(files, r.File)
		}
		byFile[r.File] = append(byFile[r.File], r)
	}
	for _, err := range errs {
		var re *RuleError
		if errors.As(err, &re) {
			delete(byFile, re.File) // all or nothing per file
		}
	}
	for i, err := range errs {
		var re *RuleError
		if errors.As(err, &re) {
			if prev, ok := l.good[re.File]; ok {
				if _, listed := byFile[re.File]; !listed {
					files = append(files, re.File)
				}
				byFile[re.File] = prev
				errs[i] = fmt.Errorf("%w (the previous version keeps running)", err)
			}
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	var out []*Rule
	for _, f := range files {
		out = append(out, byFile[f]...)
		if rs, ok := byFile[f]; ok {
			good[f] = rs
		}
	}
	return out, errs
}

// Rule states in a Pack: why a rule runs or not.
const (
	StateDefault  = ""         // the rule's own setting: it runs
	StateFile     = "file"     // disabled: true in its file
	StateConfig   = "config"   // in detect.disable
	StateOverride = "override" // enabled or disabled at run time (SetEnabled)
)

// PackRule is a rule of the pack with whether it runs.
type PackRule struct {
	*Rule
	Enabled bool
	// State says what decided Enabled (StateDefault, StateFile,
	// StateConfig or StateOverride).
	State string
}

// Pack is the rule pack as the detector loaded it last: every rule, the
// disabled ones too, in pack order, and the loader's problems.
type Pack struct {
	Rules  []PackRule
	Errors []string
	Loaded time.Time
}

// Rule returns the rule with that id.
func (p *Pack) Rule(id string) (PackRule, bool) {
	for _, r := range p.Rules {
		if r.ID == id {
			return r, true
		}
	}
	return PackRule{}, false
}

// Decide applies the disabled ids and the run-time overrides to rules:
// it returns the pack's view of each and the rules to run (a rule
// disabled in its file but enabled by an override runs as a copy without
// the flag).
func Decide(rules []*Rule, disable []string, overrides map[string]bool) ([]PackRule, []*Rule) {
	pack := make([]PackRule, 0, len(rules))
	var run []*Rule
	for _, r := range rules {
		pr := PackRule{Rule: r, Enabled: true}
		switch on, ok := overrides[r.ID]; {
		case ok:
			pr.Enabled, pr.State = on, StateOverride
		case slices.Contains(disable, r.ID):
			pr.Enabled, pr.State = false, StateConfig
		case r.Disabled:
			pr.Enabled, pr.State = false, StateFile
		}
		pack = append(pack, pr)
		if pr.Enabled {
			if r.Disabled {
				c := *r
				c.Disabled = false
				r = &c
			}
			run = append(run, r)
		}
	}
	return pack, run
}
