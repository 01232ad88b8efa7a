package service

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// Bounds of the device proposals.
const (
	proposalScan = 5000 // user and device pairs checked against the registry
	proposalMax  = 200  // proposals returned
)

// ProposalQuery asks for the devices to propose for registration.
type ProposalQuery struct {
	// Start and End bound the logins looked at; zero End means now, zero
	// Start 7 days before End.
	Start, End time.Time
}

// DeviceProposal is an ActiveSync device that logged in successfully
// and that the registry does not hold for its user: a registration to
// propose.
type DeviceProposal struct {
	User   string `json:"user"`
	Device string `json:"device"`
	// Type is the device.type the phone reported ("iPhone"), if any.
	Type string `json:"type,omitempty"`
	// Logins counts its successful requests; Addresses the distinct
	// source addresses they came from.
	Logins    int64     `json:"logins"`
	Addresses int64     `json:"addresses"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// DeviceProposals are the registrations proposed from the logins of a
// time range, the most recently seen first.
type DeviceProposals struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Registry is false when there is no device registry (and no
	// proposals).
	Registry  bool             `json:"registry"`
	Proposals []DeviceProposal `json:"proposals"`
	// Truncated says that more pairs were seen than were checked, or more
	// proposals found than returned.
	Truncated bool `json:"truncated"`
}

// proposalFilter selects successful ActiveSync requests that name a user
// and a device.
const proposalFilter = "network.protocol:activesync event.outcome:success device.id:* user.name:* " + notAlerts

// DeviceProposals returns the ActiveSync devices that logged in
// successfully between q.Start and q.End and are not registered for
// their user: what enforce.devices' learn mode lets through, for an
// analyst to register before switching to registered-only. A device
// revoked and not registered again is never proposed: a lost phone that
// still syncs is an incident, not a registration.
func (d *Dashboards) DeviceProposals(ctx context.Context, a Actor, q ProposalQuery) (*DeviceProposals, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if err := checkRange(&q.Start, &q.End, d.opts.Now(), 7*24*time.Hour); err != nil {
		return nil, err
	}
	p := &DeviceProposals{Start: q.Start.UTC(), End: q.End.UTC(), Registry: d.opts.Registered != nil, Proposals: []DeviceProposal{}}
	if !p.Registry {
		return p, nil
	}
	text := proposalFilter + " | stats by (user.name, device.id, device.type) count() n, count_uniq(source.ip) addrs, min(_time) first, max(_time) last" +
		" | sort by (last desc) | limit " + strconv.Itoa(proposalScan+1)
	seen := 0
	at := map[[2]string]int{} // user and device -> index in p.Proposals
	err := d.rows(ctx, text, q.Start, q.End, func(r *store.Row) {
		if seen++; seen > proposalScan {
			p.Truncated = true
			return
		}
		user, id := r.Get("user.name"), r.Get("device.id")
		if d.registered(user, id) || (d.opts.Revoked != nil && d.opts.Revoked(user, id)) {
			return
		}
		dp := DeviceProposal{User: get(r, "user.name"), Device: get(r, "device.id"), Type: get(r, "device.type"),
			Logins: num(r.Get("n")), Addresses: num(r.Get("addrs")), First: tm(r.Get("first")), Last: tm(r.Get("last"))}
		k := [2]string{dp.User, dp.Device}
		i, ok := at[k]
		if !ok {
			at[k] = len(p.Proposals)
			p.Proposals = append(p.Proposals, dp)
			return
		}
		// The same device under another device.type: one proposal with
		// the latest type (addresses is then a lower bound).
		o := &p.Proposals[i]
		if dp.Last.After(o.Last) {
			o.Type, o.Last = dp.Type, dp.Last
		}
		if dp.First.Before(o.First) {
			o.First = dp.First
		}
		o.Logins += dp.Logins
		o.Addresses = max(o.Addresses, dp.Addresses)
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.Proposals, func(x, y DeviceProposal) int {
		return cmp.Or(y.Last.Compare(x.Last), cmp.Compare(x.User, y.User), cmp.Compare(x.Device, y.Device))
	})
	if len(p.Proposals) > proposalMax {
		p.Proposals, p.Truncated = p.Proposals[:proposalMax], true
	}
	return p, nil
}
