package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/locale"
)

// Rule types.
const (
	TypeMatch       = "match"
	TypeThreshold   = "threshold"
	TypeCardinality = "cardinality"
	TypeNewValue    = "new_value"
	TypeSequence    = "sequence"
	TypeSpike       = "spike"
	TypeAbsence     = "absence"
	TypeTravel      = "travel"
)

var ruleTypes = []string{TypeMatch, TypeThreshold, TypeCardinality, TypeNewValue, TypeSequence, TypeSpike, TypeAbsence, TypeTravel}

// Rule is a detection rule as written in a YAML file (docs/rules.md).
type Rule struct {
	ID          string `yaml:"id"`
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
	Threat      string `yaml:"threat"`
	Level       string `yaml:"level"`
	// Disabled rules are loaded and linted but not run.
	Disabled bool `yaml:"disabled"`
	// Requires names what the rule needs to mean anything: "geoip" (a
	// GeoIP database) or "list:NAME" (a loaded list). Without it the rule
	// is skipped, costing nothing.
	Requires []string `yaml:"requires"`
	// Match is a fast pre-filter: every listed field must equal the value
	// (or one of the values, for a list).
	Match map[string]StringList `yaml:"match"`
	// When is an expression over event fields that must be true.
	When string `yaml:"when"`
	// GroupBy names the fields (or expressions) that key the rule's state.
	GroupBy []string `yaml:"group_by"`
	// Window is the time span a threshold, cardinality, sequence or spike
	// looks at, and the silence that makes an absence.
	Window config.Duration `yaml:"window"`
	// Threshold is the count (threshold), the number of distinct values
	// (cardinality) or the minimum count of a spike window.
	Threshold int `yaml:"threshold"`
	// Field is the value a cardinality counts or a new_value learns: a field
	// name or an expression.
	Field string `yaml:"field"`
	// Learn is the learning period of new_value (per rule and per group)
	// and of spike's baseline (in windows: Learn/Window).
	Learn config.Duration `yaml:"learn"`
	// Forget drops values (new_value) or silent groups (absence) unseen
	// this long.
	Forget config.Duration `yaml:"forget"`
	// Near is a new_value condition over the new value (value), the
	// group's known values (known) and the event: when true, the value
	// counts as a variant of a known one (a mobile carrier's address
	// placed in the next province): no alert, and it is not learned.
	Near string `yaml:"near"`
	// Steps of a sequence, in order.
	Steps []Step `yaml:"steps"`
	// Factor: a spike window must reach Factor times the baseline.
	Factor float64 `yaml:"factor"`
	// Baseline is the number of past windows in spike's moving average.
	Baseline int `yaml:"baseline"`
	// MinEvents: an absence group must have sent at least this many events
	// before its silence counts.
	MinEvents int `yaml:"min_events"`
	// MaxSpeed (km/h) and MinDistance (km) of a travel rule.
	MaxSpeed    float64 `yaml:"max_speed"`
	MinDistance float64 `yaml:"min_distance"`
	// Suppress: one alert per group per period, then a follow-up.
	Suppress config.Duration `yaml:"suppress"`
	// Message is a text/template for the alert's message.
	Message string `yaml:"message"`
	// Translations are the title, description and message in other
	// languages, by language (one of locale.Languages). The engine and the
	// console use the translation of their language, else the rule's own
	// texts (English in the built-in pack).
	Translations map[string]Translation `yaml:"translations,omitempty"`
	// Notify are mail recipients (templates), e.g. the locked-out user.
	Notify []string `yaml:"notify"`
	// Actions are the decisions each alert of the rule asks for (a ban of
	// its source address, ...): the alert carries them, the decision store
	// applies its policy.
	Actions []Action `yaml:"actions"`
	// MaxGroups caps the tracked groups; the least recently seen is evicted.
	MaxGroups int `yaml:"max_groups"`
	// Payloads caps the contributing events kept in an alert.
	Payloads int `yaml:"payloads"`

	// File is where the rule was loaded from; Source is its YAML text
	// (its document of the file, or the whole file when the documents
	// cannot be told apart).
	File   string `yaml:"-"`
	Source string `yaml:"-"`
	hash   string
}

// Translation is a rule's title, description and message in one
// language. Its message is a template like Rule.Message, over the same
// data.
type Translation struct {
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	Message     string `yaml:"message"`
}

// In returns the rule's texts in lang: its translation when it has one,
// else its own title, description and message.
func (r *Rule) In(lang string) Translation {
	if t, ok := r.Translations[lang]; ok {
		return t
	}
	return Translation{Title: r.Title, Description: r.Description, Message: r.Message}
}

// Step is one step of a sequence rule.
type Step struct {
	Name  string                `yaml:"name"`
	Match map[string]StringList `yaml:"match"`
	When  string                `yaml:"when"`
	// Count is how many events the step needs (default 1).
	Count int `yaml:"count"`
}

// StringList is a YAML scalar or list of scalars.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: want a value or a list of values", n.Line)
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Defaults.
const (
	DefaultMaxGroups = 100_000
	DefaultPayloads  = 5
	DefaultBaseline  = 24
)

// validate checks the fields of a rule and fills in defaults.
func (r *Rule) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !idRE.MatchString(r.ID) {
		bad("id %q: want lower-case letters, digits, '.', '_', '-'", r.ID)
	}
	if r.Title == "" {
		bad("title is missing")
	}
	known := false
	for _, t := range ruleTypes {
		known = known || t == r.Type
	}
	if !known {
		bad("type %q: want one of %s", r.Type, strings.Join(ruleTypes, ", "))
	}
	if r.Level == "" {
		r.Level = alert.LevelMedium
	}
	if alert.Severity(r.Level) < 0 {
		bad("level %q: want info, low, medium, high or critical", r.Level)
	}
	if r.Threat == "" {
		r.Threat = r.ID
	}
	if r.MaxGroups <= 0 {
		r.MaxGroups = DefaultMaxGroups
	}
	if r.Payloads <= 0 {
		r.Payloads = DefaultPayloads
	}
	if r.Match == nil && r.When == "" && r.Type != TypeSequence {
		bad("match or when is required (a rule over every event is almost always a mistake)")
	}
	win := time.Duration(r.Window)
	needWindow := func() {
		if win <= 0 {
			bad("window is required for type %s", r.Type)
		}
	}
	switch r.Type {
	case TypeThreshold:
		needWindow()
		if r.Threshold < 1 {
			bad("threshold must be at least 1")
		}
	case TypeCardinality:
		needWindow()
		if r.Threshold < 2 {
			bad("threshold (distinct values) must be at least 2")
		}
		if r.Field == "" {
			bad("field (the value whose distinct count matters) is required")
		}
	case TypeNewValue:
		if r.Field == "" {
			bad("field (the value to learn) is required")
		}
		if len(r.GroupBy) == 0 {
			bad("group_by is required: new for whom?")
		}
	case TypeSequence:
		needWindow()
		if len(r.Steps) < 2 {
			bad("a sequence needs at least two steps")
		}
		for i := range r.Steps {
			s := &r.Steps[i]
			if s.Count <= 0 {
				s.Count = 1
			}
			if s.Name == "" {
				s.Name = fmt.Sprintf("step%d", i+1)
			}
			if s.Match == nil && s.When == "" {
				bad("step %q: match or when is required", s.Name)
			}
			if s.Count > 1000 {
				bad("step %q: count %d is above 1000", s.Name, s.Count)
			}
		}
	case TypeSpike:
		needWindow()
		if r.Threshold < 1 {
			bad("threshold (the minimum count of a spike window) must be at least 1")
		}
		if r.Factor <= 1 {
			bad("factor must be above 1")
		}
		if r.Baseline <= 0 {
			r.Baseline = DefaultBaseline
		}
	case TypeAbsence:
		needWindow()
		if len(r.GroupBy) == 0 {
			bad("group_by is required: whose silence?")
		}
		if r.MinEvents <= 0 {
			r.MinEvents = 1
		}
	case TypeTravel:
		if r.MaxSpeed <= 0 {
			r.MaxSpeed = 1000
		}
		if len(r.GroupBy) == 0 {
			bad("group_by is required (usually user.name)")
		}
	}
	if r.Near != "" && r.Type != TypeNewValue {
		bad("near applies to new_value rules only")
	}
	for _, req := range r.Requires {
		if name, ok := strings.CutPrefix(req, "list:"); !(req == "geoip" || ok && name != "") {
			bad("requires %q: want geoip or list:NAME", req)
		}
	}
	if r.Threshold > 100_000 {
		bad("threshold %d is above 100000", r.Threshold)
	}
	if r.Message != "" {
		if _, err := template.New("m").Funcs(templateFuncs).Parse(r.Message); err != nil {
			bad("message: %v", err)
		}
	}
	for _, lang := range slices.Sorted(maps.Keys(r.Translations)) {
		for _, err := range r.validateTranslation(lang) {
			bad("translations: %s: %v", lang, err)
		}
	}
	for _, n := range r.Notify {
		if _, err := template.New("n").Funcs(templateFuncs).Parse(n); err != nil {
			bad("notify %q: %v", n, err)
		}
	}
	for i, a := range r.Actions {
		if err := a.validate(); err != nil {
			bad("actions[%d]: %v", i, err)
		}
	}
	return errors.Join(errs...)
}

// validateTranslation checks the translation into lang: a known language,
// and every text the rule has, not blank, its message a template that
// parses.
func (r *Rule) validateTranslation(lang string) []error {
	if !slices.Contains(locale.Languages, lang) {
		if l := locale.Supported(lang); l != "" {
			return []error{fmt.Errorf("write the language as %s", l)}
		}
		return []error{fmt.Errorf("unknown language: want one of %s", strings.Join(locale.Languages, ", "))}
	}
	t := r.Translations[lang]
	var errs []error
	for _, f := range []struct{ name, own, tr string }{
		{"title", r.Title, t.Title}, {"description", r.Description, t.Description}, {"message", r.Message, t.Message}} {
		if f.own != "" && strings.TrimSpace(f.tr) == "" {
			errs = append(errs, fmt.Errorf("%s is missing or empty (the rule has one)", f.name))
		}
	}
	if t.Message != "" {
		if _, err := template.New("m").Funcs(templateFuncs).Parse(t.Message); err != nil {
			errs = append(errs, fmt.Errorf("message: %w", err))
		}
	}
	return errs
}

// RuleError is a rule that could not be loaded.
type RuleError struct {
	File string
	ID   string
	Err  error
}

func (e *RuleError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%s: rule %s: %v", e.File, e.ID, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// ParseRules reads the rules of one YAML file: a single rule, or several
// separated by "---".
func ParseRules(name string, data []byte) ([]*Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out []*Rule
	for i := 0; ; i++ {
		var r Rule
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, &RuleError{File: name, Err: fmt.Errorf("document %d: %w", i+1, err)}
		}
		r.File = name
		if err := r.validate(); err != nil {
			return out, &RuleError{File: name, ID: r.ID, Err: err}
		}
		r.hash = hashRule(&r)
		out = append(out, &r)
	}
	docs := splitDocuments(data)
	for i, r := range out {
		if len(docs) == len(out) {
			r.Source = docs[i]
		} else {
			r.Source = string(data)
		}
	}
	return out, nil
}

// docSep matches a YAML document separator line.
var docSep = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?$\n?`)

// splitDocuments splits a YAML file's text at its "---" lines, leaving
// out the parts with nothing but blank lines and comments.
func splitDocuments(data []byte) []string {
	var out []string
	for _, part := range docSep.Split(string(data), -1) {
		for _, line := range strings.Split(part, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, strings.TrimLeft(part, "\n"))
				break
			}
		}
	}
	return out
}

// hashRule identifies a rule's definition: a rule whose hash changed
// starts with empty state. Translations are left out, so adding or
// editing one keeps the state (what was learned, open windows).
func hashRule(r *Rule) string {
	c := *r
	c.Translations = nil
	b, _ := yaml.Marshal(&c)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// LoadRules reads every *.yaml and *.yml file under dir in fsys (sorted by
// path). It returns the rules that loaded and one error per broken file or
// duplicate id; a broken file does not stop the others.
func LoadRules(fsys fs.FS, dir string) ([]*Rule, []error) {
	var files []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := path.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, []error{fmt.Errorf("rules: read %s: %w", dir, err)}
	}
	sort.Strings(files)
	var rules []*Rule
	var errs []error
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: %w", err))
			continue
		}
		rs, err := ParseRules(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, rs...)
	}
	return rules, errs
}

// Merge combines rule sets; a later set's rule replaces an earlier one with
// the same id (a user rule overrides a built-in). Duplicates within one set
// are errors.
func Merge(sets ...[]*Rule) ([]*Rule, []error) {
	var out []*Rule
	index := map[string]int{}
	var errs []error
	for _, set := range sets {
		seen := map[string]string{}
		for _, r := range set {
			if f, dup := seen[r.ID]; dup {
				errs = append(errs, &RuleError{File: r.File, ID: r.ID, Err: fmt.Errorf("duplicate id (also in %s)", f)})
				continue
			}
			seen[r.ID] = r.File
			if i, ok := index[r.ID]; ok {
				out[i] = r
				continue
			}
			index[r.ID] = len(out)
			out = append(out, r)
		}
	}
	return out, errs
}

// Without returns rules minus those whose id is in ids (detect.disable).
// It filters in place: rules' backing array is reused.
func Without(rules []*Rule, ids []string) []*Rule {
	off := make(map[string]bool, len(ids))
	for _, id := range ids {
		off[id] = true
	}
	out := rules[:0]
	for _, r := range rules {
		if !off[r.ID] {
			out = append(out, r)
		}
	}
	return out
}

// window returns the rule's window as nanoseconds.
func (r *Rule) window() int64 { return int64(time.Duration(r.Window)) }

// learnWindows returns the rule's learning period in windows.
func (r *Rule) learnWindows() int64 {
	if w := r.window(); w > 0 {
		return int64(r.Learn) / w
	}
	return 0
}

func (r *Rule) suppress() int64 { return int64(time.Duration(r.Suppress)) }
