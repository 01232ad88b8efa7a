package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/internal/service"
)

// View is what every page's data carries (embed it: struct{ View; ... }).
// Its methods are usable in templates: {{.T "key"}}, {{.Time .When}},
// {{.Ago .When}}, {{.Num .Count}}, {{if .Can "triage"}}; inside a range
// or with, call them on the page: {{$.T "key"}}.
type View struct {
	// Actor is the signed-in user (zero on the login page).
	Actor service.Actor
	// CSRF is the session's token: forms that change something carry it
	// ({{template "csrf" .}}), fetch calls send it as X-CSRF-Token.
	CSRF string
	// Lang is the page's language ("en", "zh-CN"); Zone the user's zone.
	Lang string
	Zone *time.Location
	// Path is the request's path with its query (for "next" links).
	Path string
	// Flash is a message from the previous action (after a redirect).
	Flash string
	// Now is the time of the request, by the console's clock.
	Now time.Time

	p *locale.Printer
	// ruleTitle returns a rule's title in Lang by id ("" for a rule not
	// in the pack).
	ruleTitle func(id string) string
}

// base lets render find the View in a page's data.
func (v View) base() View { return v }

// SignedIn reports whether a user is signed in.
func (v View) SignedIn() bool { return v.Actor.Name != "" }

// T translates key with fmt-style args (internal/locale).
func (v View) T(key string, args ...any) string { return v.p.T(key, args...) }

// RuleTitle returns the title of the rule id in the page's language (the
// rule's translation, else its own); for a rule no longer in the pack,
// stored (an alert's rule.name, written in display.language when the
// alert was raised), else the id.
func (v View) RuleTitle(id, stored string) string {
	if v.ruleTitle != nil {
		if t := v.ruleTitle(id); t != "" {
			return t
		}
	}
	if stored != "" {
		return stored
	}
	return id
}

// Can reports whether the user has the permission named perm (read,
// triage, lists, rules, users, audit); an unknown name is an error, so a
// typo fails the page's test.
func (v View) Can(perm string) (bool, error) {
	p, err := parsePerm(perm)
	if err != nil {
		return false, err
	}
	return v.Actor.Role.Can(p), nil
}

func parsePerm(name string) (service.Perm, error) {
	for p := service.PermRead; p <= service.PermAudit; p++ {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("console: unknown permission %q", name)
}

// Active reports whether the page is path or under it (for navigation).
func (v View) Active(path string) bool {
	p, _, _ := strings.Cut(v.Path, "?")
	if path == "/" {
		return p == "/"
	}
	return p == path || strings.HasPrefix(p, path+"/")
}

// ZoneName returns the user's zone as "Asia/Shanghai (CST, UTC+08:00)".
func (v View) ZoneName() string { return v.zoneLabel(v.Zone) }

func (v View) zoneLabel(loc *time.Location) string {
	t := v.Now.In(loc)
	abbr, _ := t.Zone()
	name := loc.String()
	if name == "Local" {
		name = v.T("shell.zone.local")
	}
	return fmt.Sprintf("%s (%s, UTC%s)", name, abbr, t.Format("-07:00"))
}

// TimeFormat is how the console shows times: in the user's zone, with
// the zone's abbreviation (or its offset when it has none).
const TimeFormat = "2006-01-02 15:04:05 MST"

// Time formats t in the user's zone with the zone named:
// "2026-12-06 08:15:02 CST". The zero time is "-".
func (v View) Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(v.Zone).Format(TimeFormat)
}

// Ago says how long before the request t was: "5 min ago" (translated).
func (v View) Ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := v.Now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = v.T("common.ago.now")
		return s
	case d < time.Hour:
		s = v.T("common.dur.minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		s = v.T("common.dur.hours", int(d/time.Hour))
	default:
		s = v.T("common.dur.days", int(d/(24*time.Hour)))
	}
	if future {
		return v.T("common.ago.in", s)
	}
	return v.T("common.ago.past", s)
}

// TimeView is a time ready for the "time" partial.
type TimeView struct {
	ISO, Text, Ago string
}

// TimeOf returns t for {{template "time" ($.TimeOf .When)}}: shown in the
// user's zone, its relative time on hover, RFC3339 in the datetime
// attribute.
func (v View) TimeOf(t time.Time) TimeView {
	return TimeView{ISO: t.UTC().Format(time.RFC3339), Text: v.Time(t), Ago: v.Ago(t)}
}

// Num formats an integer with thousands separators (1,234,567); floats
// get one decimal.
func (v View) Num(n any) string {
	switch n := n.(type) {
	case int:
		return group(strconv.FormatInt(int64(n), 10))
	case int64:
		return group(strconv.FormatInt(n, 10))
	case uint64:
		return group(strconv.FormatUint(n, 10))
	case int32:
		return group(strconv.FormatInt(int64(n), 10))
	case uint32:
		return group(strconv.FormatUint(uint64(n), 10))
	case uint:
		return group(strconv.FormatUint(uint64(n), 10))
	case float64:
		s := strconv.FormatFloat(n, 'f', 1, 64)
		i, frac, _ := strings.Cut(s, ".")
		return group(i) + "." + frac
	}
	return fmt.Sprint(n)
}

func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
