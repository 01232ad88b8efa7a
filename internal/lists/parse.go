package lists

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Kind is what a list holds.
type Kind string

// List kinds.
const (
	KindIP     Kind = "ip"     // IPv4/IPv6 addresses and CIDR prefixes
	KindUser   Kind = "user"   // user names, compared case-insensitively
	KindDevice Kind = "device" // ActiveSync devices: user + DeviceId
)

// Role is what a list is for.
type Role string

// List roles.
const (
	RoleAllow Role = "allow" // whitelist: events matching it are exempt from its rules
	RoleBlock Role = "block" // blacklist: events matching it are flagged by its rules
	RolePlain Role = "plain" // a named set that rule expressions refer to
)

// Entry is one member of a list.
type Entry struct {
	// Value is the IP address or CIDR prefix, the user name, or for a
	// device "user/DeviceId". The parser stores it in canonical form
	// (masked prefix, trimmed name).
	Value string
	// User and Device are the device's user and ActiveSync DeviceId
	// (device lists only).
	User, Device string
	// Note and Owner are free text: why the entry is there and who asked.
	Note, Owner string
	// Model is a device's type or model ("iPhone 15"; device lists only).
	Model string
	// By is who added the entry (a console user, "token", "cli").
	By string
	// Added is when the entry was added; Expires when it stops matching
	// (zero: never).
	Added, Expires time.Time
	// Revoked is when a device was revoked (a lost phone) and RevokedBy
	// who did it. Revoking sets Expires too, which is what stops the
	// entry matching; these two say why it did.
	Revoked   time.Time
	RevokedBy string
}

// List is the content of one list file.
type List struct {
	Name        string
	Kind        Kind
	Role        Role
	Description string
	// Rules are the rule IDs an allow or block list applies to; empty
	// means all rules.
	Rules   []string
	Entries []Entry
}

// ParseError is a problem with a list file, with the line it is on when
// known.
type ParseError struct {
	File string // file name
	Line int    // 1-based; 0 when the problem is not on one line
	Err  error
}

// Error returns "lists: FILE:LINE: problem".
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("lists: %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("lists: %s: %v", e.File, e.Err)
}

// Unwrap returns the underlying problem.
func (e *ParseError) Unwrap() error { return e.Err }

// maxNameLen bounds list names, which rule expressions spell out.
const maxNameLen = 128

// ValidName reports whether name can name a list: 1 to 128 ASCII
// letters, digits, '-', '_' and '.', not starting with '.'.
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] == '.' {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ParseFile parses the content of a list file. file is the file's name:
// its extension picks the format (.yaml, .yml or .txt) and its base name
// without the extension is the list's default name.
//
// The text format holds one entry per line; blank lines and lines
// starting with '#' are ignored, and text after whitespace followed by
// '#' is the entry's note. Comment lines before the first entry may set
// "# kind: ip|user|device", "# role: allow|block|plain" and
// "# rules: id1, id2". Without a kind, a list whose entries all parse as
// IP addresses or prefixes is an ip list, anything else a user list. A
// device line is "user DeviceId" or "user/DeviceId".
//
// The YAML format is one mapping with name, kind, role, description,
// rules and entries; an entry is a scalar (the value) or a mapping with
// value (or user and device), model, note, owner, by, added, expires,
// revoked and revoked_by. Times are
// RFC 3339 or a date; an expiry date means the end of that day (UTC).
func ParseFile(file string, data []byte) (*List, error) {
	base := filepath.Base(file)
	ext := strings.ToLower(filepath.Ext(base))
	name := strings.TrimSuffix(base, filepath.Ext(base))
	var (
		l   *List
		err error
	)
	switch ext {
	case ".txt":
		l, err = parseText(base, name, data)
	case ".yaml", ".yml":
		l, err = parseYAML(base, name, data)
	default:
		return nil, &ParseError{File: base, Err: fmt.Errorf("unknown file type %q (want .yaml, .yml or .txt)", ext)}
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// rawEntry is an entry before its kind is known, with its line.
type rawEntry struct {
	e    Entry
	line int
}

func parseText(file, name string, data []byte) (*List, error) {
	l := &List{Name: name, Role: RolePlain}
	if !ValidName(name) {
		return nil, &ParseError{File: file, Err: fmt.Errorf("invalid list name %q (letters, digits, '-', '_', '.')", name)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var raws []rawEntry
	header := true
	for n := 1; len(data) > 0; n++ {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		if s[0] == '#' {
			if header {
				if err := textDirective(l, s[1:]); err != nil {
					return nil, &ParseError{File: file, Line: n, Err: err}
				}
			}
			continue
		}
		header = false
		value, note := splitNote(s)
		if !utf8.ValidString(value) || !utf8.ValidString(note) {
			return nil, &ParseError{File: file, Line: n, Err: errors.New("invalid UTF-8")}
		}
		raws = append(raws, rawEntry{Entry{Value: value, Note: note}, n})
	}
	if l.Kind == "" {
		l.Kind = inferKind(raws)
	}
	for _, r := range raws {
		e := r.e
		switch l.Kind {
		case KindDevice:
			user, dev, ok := splitDevice(e.Value)
			if !ok {
				return nil, &ParseError{File: file, Line: r.line, Err: fmt.Errorf("bad device %q: want \"user DeviceId\" or \"user/DeviceId\"", e.Value)}
			}
			e.Value, e.User, e.Device = "", user, dev
		case KindUser:
			if strings.IndexFunc(e.Value, unicode.IsSpace) >= 0 {
				return nil, &ParseError{File: file, Line: r.line, Err: fmt.Errorf("user name %q contains white space (notes start with \" #\"; use a YAML file for such names)", e.Value)}
			}
		}
		ne, err := normEntry(l.Kind, e)
		if err != nil {
			return nil, &ParseError{File: file, Line: r.line, Err: err}
		}
		l.Entries = append(l.Entries, ne)
	}
	l.Entries = dedupe(l.Kind, l.Entries)
	return l, nil
}

// textDirective applies a "kind:", "role:" or "rules:" header comment;
// other comments are ignored.
func textDirective(l *List, s string) error {
	key, val, ok := strings.Cut(s, ":")
	if !ok {
		return nil
	}
	val = strings.TrimSpace(val)
	switch strings.ToLower(strings.TrimSpace(key)) {
	case "kind":
		k, err := parseKind(strings.ToLower(val))
		if err != nil {
			return err
		}
		l.Kind = k
	case "role":
		r, err := parseRole(strings.ToLower(val))
		if err != nil {
			return err
		}
		l.Role = r
	case "rules":
		l.Rules = nil
		for _, id := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			if err := checkText("rule id", id); err != nil {
				return err
			}
			l.Rules = append(l.Rules, id)
		}
	}
	return nil
}

// splitNote splits "value  # note" into its parts.
func splitNote(s string) (value, note string) {
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		}
	}
	return s, ""
}

// splitDevice splits "user/DeviceId" at the last '/' (DeviceIds have
// none) or, without a '/', "user DeviceId" at white space.
func splitDevice(s string) (user, dev string, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		user, dev = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	} else if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		user, dev = s[:i], strings.TrimSpace(s[i:])
	} else {
		return "", "", false
	}
	if user == "" || dev == "" || strings.IndexFunc(dev, unicode.IsSpace) >= 0 {
		return "", "", false
	}
	return user, dev, true
}

// inferKind returns ip when every entry is an IP address or prefix (and
// there is at least one), else user.
func inferKind(raws []rawEntry) Kind {
	if len(raws) == 0 {
		return KindUser
	}
	for _, r := range raws {
		if r.e.User != "" || r.e.Device != "" {
			return KindDevice
		}
	}
	for _, r := range raws {
		if _, err := parseIP(r.e.Value); err != nil {
			return KindUser
		}
	}
	return KindIP
}

func parseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindIP, KindUser, KindDevice:
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (want ip, user or device)", s)
}

func parseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAllow, RoleBlock, RolePlain:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want allow, block or plain)", s)
}

// parseIP parses an address or prefix into a masked prefix; an address is
// a full-length prefix. IPv4-mapped IPv6 forms become IPv4 and zones are
// dropped.
func parseIP(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q: %w", s, err)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad IP address %q: %w", s, err)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ipValue is the canonical text of p: the address alone for a
// full-length prefix.
func ipValue(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// checkText rejects empty text and text with control characters or
// invalid UTF-8.
func checkText(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q: invalid UTF-8", what, s)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s %q: control character", what, s)
	}
	return nil
}

// normEntry validates e for a list of kind k and puts its value in
// canonical form.
func normEntry(k Kind, e Entry) (Entry, error) {
	for _, f := range [...]struct{ what, s string }{{"note", e.Note}, {"owner", e.Owner}, {"model", e.Model}, {"by", e.By}, {"revoked_by", e.RevokedBy}} {
		if f.s != "" {
			if err := checkText(f.what, f.s); err != nil {
				return Entry{}, err
			}
		}
	}
	switch k {
	case KindIP:
		e.User, e.Device, e.Model = "", "", ""
		p, err := parseIP(strings.TrimSpace(e.Value))
		if err != nil {
			return Entry{}, err
		}
		e.Value = ipValue(p)
	case KindUser:
		e.User, e.Device, e.Model = "", "", ""
		e.Value = strings.TrimSpace(e.Value)
		if err := checkText("user name", e.Value); err != nil {
			return Entry{}, err
		}
	case KindDevice:
		if e.User == "" && e.Device == "" {
			user, dev, ok := splitDevice(e.Value)
			if !ok {
				return Entry{}, fmt.Errorf("bad device %q: want \"user/DeviceId\" or user and device", e.Value)
			}
			e.User, e.Device = user, dev
		}
		e.User, e.Device = strings.TrimSpace(e.User), strings.TrimSpace(e.Device)
		if err := checkText("device user", e.User); err != nil {
			return Entry{}, err
		}
		if err := checkText("device id", e.Device); err != nil {
			return Entry{}, err
		}
		if strings.IndexFunc(e.Device, unicode.IsSpace) >= 0 || strings.IndexByte(e.Device, '/') >= 0 {
			return Entry{}, fmt.Errorf("device id %q: white space or '/'", e.Device)
		}
		e.Value = e.User + "/" + e.Device
	default:
		return Entry{}, fmt.Errorf("unknown kind %q", k)
	}
	return e, nil
}

// entryKey is the identity of an entry in a list of kind k: the masked
// prefix, the lower-case user name, or user NUL DeviceId in lower case.
// e must be normalized.
func entryKey(k Kind, e Entry) string {
	switch k {
	case KindIP:
		return e.Value
	case KindDevice:
		return deviceKey(e.User, e.Device)
	}
	return strings.ToLower(e.Value)
}

func deviceKey(user, dev string) string {
	return strings.ToLower(user) + "\x00" + strings.ToLower(dev)
}

// dedupe keeps one entry per key: the last, at the place of the first.
func dedupe(k Kind, es []Entry) []Entry {
	at := make(map[string]int, len(es))
	out := es[:0]
	for _, e := range es {
		key := entryKey(k, e)
		if i, ok := at[key]; ok {
			out[i] = e
			continue
		}
		at[key] = len(out)
		out = append(out, e)
	}
	return out
}

// parseYAML parses the YAML form, walking the node tree to report lines.
func parseYAML(file, name string, data []byte) (l *List, err error) {
	defer func() {
		if r := recover(); r != nil { // the YAML library on hostile input
			l, err = nil, &ParseError{File: file, Err: fmt.Errorf("invalid YAML: %v", r)}
		}
	}()
	perr := func(n *yaml.Node, format string, args ...any) error {
		line := 0
		if n != nil {
			line = n.Line
		}
		return &ParseError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // empty file
			if !ValidName(name) {
				return nil, perr(nil, "invalid list name %q", name)
			}
			return &List{Name: name, Kind: KindUser, Role: RolePlain}, nil
		}
		return nil, perr(nil, "invalid YAML: %v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, perr(&extra, "more than one YAML document (one list per file)")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return nil, perr(root, "empty document")
		}
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, perr(root, "want a mapping with name, kind, role, rules and entries")
	}
	l = &List{Name: name, Role: RolePlain}
	var (
		kindSet bool
		raws    []rawEntry
		seen    = map[string]bool{}
	)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, perr(k, "keys must be plain strings")
		}
		if seen[k.Value] {
			return nil, perr(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			return nil, perr(v, "YAML aliases are not supported")
		}
		switch k.Value {
		case "name":
			if v.Kind != yaml.ScalarNode || !ValidName(v.Value) {
				return nil, perr(v, "invalid list name %q (letters, digits, '-', '_', '.')", v.Value)
			}
			l.Name = v.Value
		case "kind":
			kind, err := parseKind(scalar(v))
			if err != nil {
				return nil, perr(v, "%v", err)
			}
			l.Kind, kindSet = kind, true
		case "role":
			role, err := parseRole(scalar(v))
			if err != nil {
				return nil, perr(v, "%v", err)
			}
			l.Role = role
		case "description":
			if v.Kind != yaml.ScalarNode {
				return nil, perr(v, "description: want a string")
			}
			l.Description = v.Value
		case "rules":
			ids, err := yamlStrings(v)
			if err != nil {
				return nil, perr(v, "rules: %v", err)
			}
			for _, id := range ids {
				if err := checkText("rule id", id); err != nil {
					return nil, perr(v, "rules: %v", err)
				}
			}
			l.Rules = ids
		case "entries":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return nil, perr(v, "entries: want a list")
			}
			for _, en := range v.Content {
				e, err := yamlEntry(en)
				if err != nil {
					return nil, perr(en, "%v", err)
				}
				raws = append(raws, rawEntry{e, en.Line})
			}
		default:
			return nil, perr(k, "unknown key %q (want name, kind, role, description, rules, entries)", k.Value)
		}
	}
	if !kindSet {
		l.Kind = inferKind(raws)
	}
	for _, r := range raws {
		e, err := normEntry(l.Kind, r.e)
		if err != nil {
			return nil, &ParseError{File: file, Line: r.line, Err: err}
		}
		l.Entries = append(l.Entries, e)
	}
	l.Entries = dedupe(l.Kind, l.Entries)
	return l, nil
}

// scalar is the text of a scalar node, "" for anything else.
func scalar(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// yamlStrings reads a string or a list of strings.
func yamlStrings(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of strings")
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, errors.New("want a string or a list of strings")
}

func yamlEntry(n *yaml.Node) (Entry, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return Entry{Value: n.Value}, nil
	case yaml.MappingNode:
	default:
		return Entry{}, errors.New("entry: want a value or a mapping")
	}
	var e Entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return Entry{}, errors.New("entry: want plain key: value pairs")
		}
		if seen[k.Value] {
			return Entry{}, fmt.Errorf("entry: duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if v.Tag == "!!null" {
			continue
		}
		var err error
		switch k.Value {
		case "value":
			e.Value = v.Value
		case "user":
			e.User = v.Value
		case "device":
			e.Device = v.Value
		case "note":
			e.Note = v.Value
		case "owner":
			e.Owner = v.Value
		case "added":
			e.Added, err = parseTime(v.Value, false)
		case "expires":
			e.Expires, err = parseTime(v.Value, true)
		case "model":
			e.Model = v.Value
		case "by":
			e.By = v.Value
		case "revoked":
			e.Revoked, err = parseTime(v.Value, false)
		case "revoked_by":
			e.RevokedBy = v.Value
		default:
			return Entry{}, fmt.Errorf("entry: unknown key %q (want value, user, device, model, note, owner, by, added, expires, revoked, revoked_by)", k.Value)
		}
		if err != nil {
			return Entry{}, fmt.Errorf("entry: %s: %v", k.Value, err)
		}
	}
	if e.Value != "" && (e.User != "" || e.Device != "") {
		return Entry{}, errors.New("entry: give either value or user and device")
	}
	return e, nil
}

// parseTime reads RFC 3339 or a date (UTC). A date as expiry means the
// end of that day. Times must fall in the years 1 to 9999 in UTC, which
// is what RFC 3339 can write back.
func parseTime(s string, expiry bool) (time.Time, error) {
	t, err := parseTimeForms(s)
	if err != nil {
		return time.Time{}, err
	}
	if expiry && len(s) == len(time.DateOnly) {
		t = t.AddDate(0, 0, 1)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("time %q out of range", s)
	}
	return t, nil
}

func parseTimeForms(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339 or YYYY-MM-DD)", s)
}

// expiryNanos is e's expiry as Unix nanoseconds, never for none. Times
// beyond the int64 range saturate.
func expiryNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return never
	case t.Year() >= 2262:
		return never
	case t.Year() < 1678:
		return math.MinInt64
	}
	return t.UnixNano()
}

// never is the expiry of an entry that does not expire.
const never = math.MaxInt64
