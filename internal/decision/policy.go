package decision

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/lists"
)

// Policy is what a Store lets through (config section enforce:).
type Policy struct {
	// Enabled is the global switch of automatic enforcement: while it is
	// false, decisions of rules (origin "rule:...") are recorded as dry
	// run. Operators' decisions are enforced either way.
	Enabled bool
	// DryRun records every decision, operators' included, as dry run:
	// nothing is enforced.
	DryRun bool
	// MaxActiveBans caps the decisions enforced at once (every type);
	// an Add beyond it is refused. 0: no cap.
	MaxActiveBans int
	// OwnNetworks are never the subject of an ip or range decision.
	OwnNetworks []netip.Prefix
	// AllowPrivate lets ip and range decisions hit private, loopback,
	// link-local, shared (100.64/10) and unspecified addresses, which are
	// refused otherwise.
	AllowPrivate bool
}

// privateRanges are refused unless Policy.AllowPrivate.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// subjectPrefix is the prefix an ip or range decision covers.
func subjectPrefix(d *Decision) (netip.Prefix, bool) {
	switch d.Scope {
	case ScopeIP:
		a, err := netip.ParseAddr(d.Value)
		if err != nil {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	case ScopeRange:
		p, err := netip.ParsePrefix(d.Value)
		return p, err == nil
	}
	return netip.Prefix{}, false
}

// ruleOf returns the rule id of a "rule:<id>" origin, or "".
func ruleOf(origin string) string {
	if id, ok := strings.CutPrefix(origin, "rule:"); ok {
		return id
	}
	return ""
}

// refuse returns why policy p (with allow lists al) refuses d, whose value
// is canonical, or nil.
func (p *Policy) refuse(d *Decision, al *lists.Set, now time.Time) error {
	if pre, ok := subjectPrefix(d); ok {
		for _, n := range p.OwnNetworks {
			if n.Overlaps(pre) {
				return fmt.Errorf("%s %s: %w %s", d.Scope, d.Value, ErrOwnNetwork, n)
			}
		}
		if !p.AllowPrivate {
			for _, n := range privateRanges {
				if n.Overlaps(pre) {
					return fmt.Errorf("%s %s: %w (%s; enforce.allow_private is off)", d.Scope, d.Value, ErrPrivate, n)
				}
			}
		}
	}
	if name, ok := allowListed(d, al, now); ok {
		return fmt.Errorf("%s %s: %w %q", d.Scope, d.Value, ErrAllowListed, name)
	}
	return nil
}

// allowListed reports whether an allow list that applies to d's rule (all
// allow lists for decisions not made by a rule apply only if they are not
// restricted to rules) covers d's subject: an address on it, a range
// overlapping one of its entries, the user, or the DeviceId for any user.
func allowListed(d *Decision, al *lists.Set, now time.Time) (string, bool) {
	if al == nil {
		return "", false
	}
	rule := ruleOf(d.Origin)
	switch d.Scope {
	case ScopeIP:
		return al.Match(rule, lists.RoleAllow, d.Value, "", "", "")
	case ScopeUser:
		return al.Match(rule, lists.RoleAllow, "", d.Value, "", "")
	}
	pre, isRange := subjectPrefix(d)
	for _, l := range al.Lists() {
		if l.Role != lists.RoleAllow || (len(l.Rules) > 0 && !slices.Contains(l.Rules, rule)) {
			continue
		}
		if (isRange && l.Kind != lists.KindIP) || (d.Scope == ScopeDevice && l.Kind != lists.KindDevice) {
			continue
		}
		entries, _ := al.Entries(l.Name)
		for _, e := range entries {
			if !e.Expires.IsZero() && !now.Before(e.Expires) {
				continue
			}
			if isRange {
				if q, err := netip.ParsePrefix(e.Value); err == nil && q.Overlaps(pre) {
					return l.Name, true
				}
				if a, err := netip.ParseAddr(e.Value); err == nil && pre.Contains(a.Unmap()) {
					return l.Name, true
				}
			} else if strings.EqualFold(e.Device, d.Value) {
				return l.Name, true
			}
		}
	}
	return "", false
}
