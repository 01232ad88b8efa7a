package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/config"
)

// Action is a decision a rule's alerts ask for (docs/rules.md#actions):
//
//	actions: [{decision: ban, scope: ip, field: source.ip, duration: 1h}]
//
// The engine puts it, with the value taken from the alert, on the alert;
// the decision store applies its policy (enforce.* in the configuration)
// when it records the decision.
type Action struct {
	// Decision is ban, captcha or throttle.
	Decision string `yaml:"decision"`
	// Scope is ip, range, user or device.
	Scope string `yaml:"scope"`
	// Field holds the value: by default source.ip (ip, range), user.name
	// (user) or device.id (device).
	Field string `yaml:"field"`
	// Prefix is the length of a range's network around the address in
	// Field (range only): 24 bans the address's /24.
	Prefix int `yaml:"prefix"`
	// Duration is how long the decision lasts.
	Duration config.Duration `yaml:"duration"`
}

// Limits of an action's duration.
const (
	minActionDuration = time.Minute
	maxActionDuration = 30 * 24 * time.Hour
)

func (a Action) validate() error {
	if !slices.Contains([]string{"ban", "captcha", "throttle"}, a.Decision) {
		return fmt.Errorf("decision %q: want ban, captcha or throttle", a.Decision)
	}
	if !slices.Contains([]string{"ip", "range", "user", "device"}, a.Scope) {
		return fmt.Errorf("scope %q: want ip, range, user or device", a.Scope)
	}
	if a.Field != "" && !validField(a.Field) {
		return fmt.Errorf("field %q is not a field name", a.Field)
	}
	switch {
	case a.Scope == "range" && (a.Prefix < 8 || a.Prefix > 128):
		return fmt.Errorf("prefix %d: a range needs one of 8..32 (IPv4) or up to 128 (IPv6)", a.Prefix)
	case a.Scope != "range" && a.Prefix != 0:
		return fmt.Errorf("prefix is for scope range only")
	}
	if d := a.Duration.D(); d < minActionDuration || d > maxActionDuration {
		return fmt.Errorf("duration %s is outside 1m..30d", d)
	}
	return nil
}

// field returns the action's field, or its scope's default.
func (a Action) field() string {
	switch {
	case a.Field != "":
		return a.Field
	case a.Scope == "user":
		return "user.name"
	case a.Scope == "device":
		return "device.id"
	}
	return "source.ip"
}

// alertActions resolves r's actions for alert al: the value of each
// action's field in the triggering event ev (nil: none), else in the
// alert's own fields, else in its group. Actions without a value (an
// event without the field) are left out, and so is a range around a value
// that is not an address.
func alertActions(r *compiled, al *alert.Alert, ev *Event, g *group) []alert.Action {
	var out []alert.Action
	for _, a := range r.Actions {
		f := a.field()
		v := ""
		if ev != nil {
			v = strings.Clone(ev.Get(f)) // the event's buffer is reused
		}
		if v == "" {
			switch f {
			case "source.ip":
				v = al.SrcIP
			case "user.name":
				v = al.User
			case "device.id":
				v = al.DeviceID
			case "destination.ip":
				v = al.DstIP
			default:
				v = groupValue(g.Key, f)
			}
		}
		if v == "" {
			continue
		}
		if a.Scope == "range" {
			addr, err := netip.ParseAddr(v)
			if err != nil {
				continue
			}
			addr = addr.Unmap()
			bits := a.Prefix
			if addr.Is4() && bits > 32 {
				bits = 32
			}
			p, err := addr.Prefix(bits)
			if err != nil {
				continue
			}
			v = p.String()
		}
		out = append(out, alert.Action{Decision: a.Decision, Scope: a.Scope, Value: v, Duration: a.Duration.D()})
	}
	return out
}

// validField reports whether s looks like a field name (source.ip,
// winlog.event_data.TargetUserName).
func validField(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
