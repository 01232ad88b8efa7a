// Package enforce answers nginx's auth_request subrequests: may this
// request (client address, user, ActiveSync DeviceId) pass? It consults
// the decision store (bans by address, range, user and device) and, for
// ActiveSync requests, the device registry kept by internal/lists,
// according to the enforce.devices mode.
//
// GET /api/v1/enforce/check answers 204 (allow) or 403 (deny) with the
// reason in the X-Vigil-Reason header; docs/integrations/nginx.md has the
// nginx side. A check costs a few small allocations and no I/O.
package enforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/parse/format"
)

// DeviceMode says what the check does with ActiveSync devices.
type DeviceMode string

// Device registry modes (enforce.devices).
const (
	// DevicesOff: the registry is not consulted.
	DevicesOff DeviceMode = "off"
	// DevicesLearn: an unregistered device passes; it is counted and
	// logged once per user and device.
	DevicesLearn DeviceMode = "learn"
	// DevicesRegisteredOnly: an ActiveSync request passes only with a
	// DeviceId registered for its user.
	DevicesRegisteredOnly DeviceMode = "registered-only"
)

// ParseDeviceMode reads an enforce.devices value ("" is off).
func ParseDeviceMode(s string) (DeviceMode, error) {
	switch m := DeviceMode(s); m {
	case "":
		return DevicesOff, nil
	case DevicesOff, DevicesLearn, DevicesRegisteredOnly:
		return m, nil
	}
	return "", fmt.Errorf("enforce.devices: %q is not off, learn or registered-only", s)
}

// Match looks up the active decision that applies to a request: an
// adapter of decision.Store.Check. It reports the decision's id and a
// human reason.
type Match func(now time.Time, ip netip.Addr, user, device string) (id int64, reason string, ok bool)

// Registry is the ActiveSync device registry (*lists.Set).
type Registry interface {
	Device(user, id string) (lists.Entry, bool)
	ActiveDevices() []lists.Entry
}

// Options configure a Checker.
type Options struct {
	Match    Match      // nil: no decisions
	Devices  DeviceMode // "" is off
	Registry Registry   // required unless Devices is off
	// Users normalizes user names as the parsers do (nil: the default).
	Users *format.Users
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Registerer takes the metrics (nil: none).
	Registerer prometheus.Registerer
	// Log receives learn mode's unknown devices (nil: discarded).
	Log *slog.Logger
}

// Request is one request to check.
type Request struct {
	IP     netip.Addr // invalid: not checked
	User   string     // the authenticated user (Basic auth), raw
	Path   string     // the original request's path
	Query  string     // the original request's raw query
	Device string     // a DeviceId given directly (device=), if any
}

// Verdict is the answer for one request.
type Verdict struct {
	Allow bool
	// Why is the kind of refusal (ban, unregistered-device, no-device)
	// or, for an allowed request, "" or unknown-device (learn mode).
	Why string
	// Reason is the text for logs: the decision's reason or the registry's.
	Reason string
	// User and Device are what the check used (normalized user).
	User, Device string
}

// Checker answers checks. It is safe for concurrent use.
type Checker struct {
	o Options
	m *metrics

	mu   sync.Mutex
	seen map[string]struct{} // learn mode: unknown devices already logged
}

// maxSeen bounds learn mode's memory of logged devices; when full it
// starts over (a device may then be logged again).
const maxSeen = 4096

// New returns a Checker.
func New(o Options) (*Checker, error) {
	if o.Devices == "" {
		o.Devices = DevicesOff
	}
	if _, err := ParseDeviceMode(string(o.Devices)); err != nil {
		return nil, err
	}
	if o.Devices != DevicesOff && o.Registry == nil {
		return nil, errors.New("enforce: a device mode needs the device registry")
	}
	if o.Users == nil {
		o.Users = &format.Users{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{o: o, m: newMetrics(), seen: make(map[string]struct{})}
	if o.Registerer != nil {
		if err := c.m.register(o.Registerer); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Check decides on r.
func (c *Checker) Check(r Request) Verdict {
	v := c.check(r)
	c.m.count(v)
	return v
}

func (c *Checker) check(r Request) Verdict {
	var v Verdict
	user := r.User
	device := r.Device
	activeSync := IsActiveSync(r.Path)
	var asUser string
	if activeSync {
		if as, ok := ParseActiveSync(r.Query); ok {
			asUser = as.User
			if device == "" {
				device = as.Device
			}
		}
	}
	if user == "" {
		user, asUser = asUser, ""
	}
	if user != "" {
		user, _ = c.o.Users.Normalize(user)
	}
	if asUser != "" {
		asUser, _ = c.o.Users.Normalize(asUser)
		if asUser == user {
			asUser = ""
		}
	}
	v.User, v.Device = user, device
	now := c.o.Now()
	if c.o.Match != nil {
		if id, reason, ok := c.o.Match(now, r.IP, user, device); ok {
			return deny(v, "ban", fmt.Sprintf("decision %d: %s", id, reason))
		}
		// The user the ActiveSync query names, when the Basic auth user
		// is another one.
		if asUser != "" {
			if id, reason, ok := c.o.Match(now, netip.Addr{}, asUser, ""); ok {
				return deny(v, "ban", fmt.Sprintf("decision %d: %s", id, reason))
			}
		}
	}
	if c.o.Devices == DevicesOff || !activeSync {
		v.Allow = true
		return v
	}
	switch {
	case device == "" || user == "":
		if c.o.Devices == DevicesRegisteredOnly && r.Query != "" {
			return deny(v, "no-device", "registered-only: an ActiveSync request without a DeviceId and user")
		}
		// OPTIONS and other requests without a query name no device.
		v.Allow = true
		return v
	}
	if _, ok := c.o.Registry.Device(user, device); ok {
		v.Allow = true
		return v
	}
	if c.o.Devices == DevicesRegisteredOnly {
		return deny(v, "unregistered-device", "registered-only: device "+device+" is not registered for "+user)
	}
	v.Allow, v.Why, v.Reason = true, "unknown-device", "learn: device "+device+" is not registered for "+user
	c.learn(user, device)
	return v
}

// learn logs an unknown device once (within maxSeen).
func (c *Checker) learn(user, device string) {
	key := user + "\x00" + strings.ToLower(device)
	c.mu.Lock()
	_, dup := c.seen[key]
	if !dup {
		if len(c.seen) >= maxSeen {
			clear(c.seen)
		}
		c.seen[key] = struct{}{}
	}
	c.mu.Unlock()
	if !dup {
		c.o.Log.Info("enforce: unregistered ActiveSync device allowed (enforce.devices: learn)", "user", user, "device", device)
	}
}

func deny(v Verdict, why, reason string) Verdict {
	v.Allow, v.Why, v.Reason = false, why, reason
	return v
}

// Headers nginx sets on the auth_request subrequest
// (deploy/nginx/vigil-enforce.conf).
const (
	HeaderIP     = "X-Vigil-Client-Ip"
	HeaderUser   = "X-Vigil-User"
	HeaderURI    = "X-Original-Uri"
	HeaderReason = "X-Vigil-Reason"
)

// maxReason bounds the X-Vigil-Reason header.
const maxReason = 200

// ServeHTTP answers GET /api/v1/enforce/check: the client address, user
// and original URI come from the X-Vigil-Client-IP, X-Vigil-User and
// X-Original-URI headers or from the ip=, user=, uri= and device= query
// parameters (which take precedence). 204: allow; 403: deny; 400: an
// address that is not one. The reason is in X-Vigil-Reason.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.RawQuery
	get := func(param, header string) string {
		if q != "" {
			if s := format.QueryParam(q, param); s != "" {
				return s
			}
		}
		return r.Header.Get(header)
	}
	var req Request
	if s := get("ip", HeaderIP); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			c.m.bad.Inc()
			http.Error(w, "ip: not an IP address", http.StatusBadRequest)
			return
		}
		req.IP = a.Unmap()
	}
	req.User = get("user", HeaderUser)
	uri := get("uri", HeaderURI)
	req.Path, req.Query, _ = strings.Cut(uri, "?")
	if q != "" {
		req.Device = format.QueryParam(q, "device")
	}
	v := c.Check(req)
	h := w.Header()
	if v.Reason != "" {
		reason := v.Reason
		if len(reason) > maxReason {
			reason = strings.ToValidUTF8(reason[:maxReason], "")
		}
		h.Set(HeaderReason, reason)
	}
	if v.Allow {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusForbidden)
}

// Device is one registered device as GET /api/v1/enforce/devices lists
// it.
type Device struct {
	User   string `json:"user"`
	Device string `json:"device"`
}

// ServeDevices answers GET /api/v1/enforce/devices: the mode
// (enforce.devices) and the registered devices that are neither expired
// nor revoked, for proxies that check devices themselves (vigil.lua).
// Users are as registered; a proxy compares them as the check does.
func (c *Checker) ServeDevices(w http.ResponseWriter, r *http.Request) {
	var out struct {
		Mode    DeviceMode `json:"mode"`
		Devices []Device   `json:"devices"`
	}
	out.Mode, out.Devices = c.o.Devices, []Device{}
	if c.o.Registry != nil {
		for _, e := range c.o.Registry.ActiveDevices() {
			out.Devices = append(out.Devices, Device{User: e.User, Device: e.Device})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		c.o.Log.Debug("enforce: devices: write", "err", err)
	}
}

// StoreMatch adapts the decision store's Check: only bans refuse a
// request (auth_request cannot show a captcha or slow a client down, so
// captcha and throttle decisions pass here).
func StoreMatch(s *decision.Store) Match {
	return func(now time.Time, ip netip.Addr, user, device string) (int64, string, bool) {
		d, ok := s.Check(now, ip, user, device)
		if !ok || d.Type != decision.TypeBan {
			return 0, "", false
		}
		return d.ID, string(d.Scope) + " " + d.Value + ": " + d.Reason, true
	}
}
