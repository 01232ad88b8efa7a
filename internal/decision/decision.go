// Package decision holds Vigil's enforcement decisions: bans (or captchas,
// throttles) of an address, a range, a user or an ActiveSync device,
// created by detection rules' actions and by operators, and served to
// enforcement points (CrowdSec bouncers, nginx auth_request).
//
// A Store applies the enforcement policy to every decision it is asked to
// add (global switch, dry run, allow lists, own networks, private ranges,
// a cap on active bans), keeps the history of every decision, deleted and
// expired ones included, and serves the active ones by lookup (Check), by
// change stream (Changes) and by listing (List). Time comes from an
// injected clock; expiry is computed at lookup, never by timers.
package decision

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Scope is what a decision applies to.
type Scope string

// Scopes.
const (
	ScopeIP     Scope = "ip"     // one address
	ScopeRange  Scope = "range"  // a CIDR prefix
	ScopeUser   Scope = "user"   // a user.name (normalized: lower case, no domain)
	ScopeDevice Scope = "device" // an ActiveSync DeviceId (any case)
)

// ParseScope returns the scope named s (any case; CrowdSec's "Ip" too).
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(strings.ToLower(strings.TrimSpace(s))); sc {
	case ScopeIP, ScopeRange, ScopeUser, ScopeDevice:
		return sc, nil
	}
	return "", fmt.Errorf("%w: unknown scope %q (want ip, range, user or device)", ErrInvalid, s)
}

// Type is what an enforcement point does about a decision's subject.
type Type string

// Types.
const (
	TypeBan      Type = "ban"
	TypeCaptcha  Type = "captcha"
	TypeThrottle Type = "throttle"
)

// ParseType returns the type named s (any case).
func ParseType(s string) (Type, error) {
	switch t := Type(strings.ToLower(strings.TrimSpace(s))); t {
	case TypeBan, TypeCaptcha, TypeThrottle:
		return t, nil
	}
	return "", fmt.Errorf("%w: unknown type %q (want ban, captcha or throttle)", ErrInvalid, s)
}

// strength orders types for Check: a ban wins over a captcha, a captcha
// over a throttle.
func (t Type) strength() int {
	switch t {
	case TypeBan:
		return 3
	case TypeCaptcha:
		return 2
	case TypeThrottle:
		return 1
	}
	return 0
}

// Decision is one decision about one subject.
type Decision struct {
	ID     int64  `json:"id"` // increasing, never reused; set by the Store
	Scope  Scope  `json:"scope"`
	Value  string `json:"value"` // canonical form (see Normalize)
	Type   Type   `json:"type"`
	Reason string `json:"reason,omitempty"` // human text: the alert's message, the operator's words
	// Origin is who decided: "rule:<rule id>", "operator:<user name>", ...
	Origin  string    `json:"origin"`
	Alert   string    `json:"alert,omitempty"` // the alert that caused it, if any
	Created time.Time `json:"created"`         // set by the Store from its clock
	Until   time.Time `json:"until"`           // expiry
	// Deleted is when the decision was deleted (zero while it is not);
	// DeletedBy who deleted it.
	Deleted   time.Time `json:"deleted,omitzero"`
	DeletedBy string    `json:"deleted_by,omitempty"`
	// DryRun decisions are recorded only, never served to enforcement.
	DryRun bool `json:"dry_run,omitempty"`
}

// State is a decision's state at a given time.
type State string

// States.
const (
	StateActive  State = "active"  // enforced
	StateDryRun  State = "dry-run" // would be enforced, recorded only
	StateExpired State = "expired" // past its Until
	StateDeleted State = "deleted" // deleted before its Until
)

// State returns d's state at now.
func (d Decision) State(now time.Time) State {
	switch {
	case !d.Deleted.IsZero():
		return StateDeleted
	case !now.Before(d.Until):
		return StateExpired
	case d.DryRun:
		return StateDryRun
	}
	return StateActive
}

// Active reports whether d is enforced at now.
func (d Decision) Active(now time.Time) bool { return d.State(now) == StateActive }

// OriginKind is the part of an origin before its first ':' ("rule",
// "operator"), used as a metric label.
func OriginKind(origin string) string {
	k, _, _ := strings.Cut(origin, ":")
	if k == "" {
		return "unknown"
	}
	return k
}

// Errors. Refusals by the policy wrap one of these; Reason names them.
var (
	ErrInvalid     = errors.New("invalid decision")
	ErrAllowListed = errors.New("on an allow list")
	ErrOwnNetwork  = errors.New("in an own network")
	ErrPrivate     = errors.New("private or loopback address")
	ErrCapReached  = errors.New("cap on active bans reached")
	ErrNotFound    = errors.New("no such decision")
	ErrClosed      = errors.New("decision store closed")
)

// Reason returns the short name of the refusal err wraps ("allow_listed",
// "own_network", "private", "cap", "invalid"), as counted in
// vigil_decisions_refused_total, or "error" for another error.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrAllowListed):
		return "allow_listed"
	case errors.Is(err, ErrOwnNetwork):
		return "own_network"
	case errors.Is(err, ErrPrivate):
		return "private"
	case errors.Is(err, ErrCapReached):
		return "cap"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "error"
}

// Limits on what one decision may hold.
const (
	maxValueLen  = 256
	maxReasonLen = 1024
	maxOriginLen = 256
	// Ranges wider than these are refused: a typo must not ban a continent.
	minBits4 = 8
	minBits6 = 32
)

// Normalize returns value in the canonical form of scope: an address
// unmapped (::ffff:1.2.3.4 is 1.2.3.4), a prefix masked, a user name as
// user.name holds it (lower case, without domain), a DeviceId trimmed.
// Device ids keep their case; they compare case-insensitively.
func Normalize(scope Scope, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("%w: empty value", ErrInvalid)
	}
	if len(value) > maxValueLen {
		return "", fmt.Errorf("%w: value longer than %d bytes", ErrInvalid, maxValueLen)
	}
	switch scope {
	case ScopeIP:
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%w: %q is not an IP address", ErrInvalid, value)
		}
		return a.Unmap().String(), nil
	case ScopeRange:
		p, err := parseRange(value)
		if err != nil {
			return "", err
		}
		return p.String(), nil
	case ScopeUser:
		var u *format.Users
		name, _ := u.Normalize(value)
		if name == "" {
			return "", fmt.Errorf("%w: %q has no user name", ErrInvalid, value)
		}
		return name, nil
	case ScopeDevice:
		if strings.ContainsAny(value, " \t/\\") {
			return "", fmt.Errorf("%w: %q is not a DeviceId", ErrInvalid, value)
		}
		return value, nil
	}
	return "", fmt.Errorf("%w: unknown scope %q", ErrInvalid, scope)
}

func parseRange(value string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(value)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a CIDR range", ErrInvalid, value)
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%w: %q is not a CIDR range", ErrInvalid, value)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	p = p.Masked()
	if min := minBits(p.Addr()); p.Bits() < min {
		return netip.Prefix{}, fmt.Errorf("%w: range %s is wider than /%d", ErrInvalid, p, min)
	}
	return p, nil
}

func minBits(a netip.Addr) int {
	if a.Is4() {
		return minBits4
	}
	return minBits6
}

// key is the lookup key of a decision's subject: devices compare
// case-insensitively, everything else is canonical already.
func key(scope Scope, value string) string {
	if scope == ScopeDevice {
		return strings.ToLower(value)
	}
	return value
}
