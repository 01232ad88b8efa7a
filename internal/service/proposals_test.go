package service

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

func TestDeviceProposals(t *testing.T) {
	// The store keeps what is within its retention of the wall clock.
	now := time.Now().UTC().Truncate(time.Second)
	vs, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 30 * 24 * time.Hour,
		StreamFields: []string{"vigil.input"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	eas := func(ago time.Duration, user, device, typ, outcome, ip string) store.Row {
		return ev(now.Add(-ago), "event.category", "authentication", "event.outcome", outcome, "network.protocol", "activesync",
			"source.ip", ip, "user.name", user, "device.id", device, "device.type", typ, "event.dataset", "nginx.access")
	}
	rows := []store.Row{
		eas(3*time.Hour, "alice", "PHONEA", "iPhone", "success", "192.0.2.1"),
		eas(2*time.Hour, "alice", "PHONEA", "iPhone", "success", "192.0.2.2"),
		eas(time.Hour, "alice", "PHONEA", "iPhone15", "success", "192.0.2.1"),    // a new type: one proposal
		eas(30*time.Minute, "bob", "REG1", "Android", "success", "192.0.2.3"),    // registered
		eas(20*time.Minute, "carol", "LOST1", "iPhone", "success", "192.0.2.4"),  // revoked
		eas(10*time.Minute, "dave", "WRONGPW", "iPhone", "failure", "192.0.2.5"), // never logged in
		eas(8*24*time.Hour, "erin", "OLD1", "iPad", "success", "192.0.2.6"),      // before the range
		eas(5*time.Minute, "frank", "TABLET", "iPad", "success", "198.51.100.9"), // the latest
		ev(now.Add(-time.Minute), "event.kind", "alert", "event.dataset", "vigil.alert", "network.protocol", "activesync",
			"event.outcome", "success", "user.name", "gina", "device.id", "ALERTED"),
	}
	if err := vs.Add(rows); err != nil {
		t.Fatal(err)
	}
	vs.Flush()
	st := search.New(vs, search.Limits{MaxConcurrent: 2, QueueWait: time.Minute}, nil)
	d := NewDashboards(st, DashboardOptions{
		Registered: func(user, id string) bool { return user == "bob" && id == "REG1" },
		Revoked:    func(user, id string) bool { return user == "carol" && id == "LOST1" },
		Now:        func() time.Time { return now },
	})
	ctx := context.Background()
	p, err := d.DeviceProposals(ctx, viewer, ProposalQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []DeviceProposal{
		{User: "frank", Device: "TABLET", Type: "iPad", Logins: 1, Addresses: 1, First: now.Add(-5 * time.Minute), Last: now.Add(-5 * time.Minute)},
		{User: "alice", Device: "PHONEA", Type: "iPhone15", Logins: 3, Addresses: 1, First: now.Add(-3 * time.Hour), Last: now.Add(-time.Hour)},
	}
	if !p.Registry || p.Truncated || !p.Start.Equal(now.Add(-7*24*time.Hour)) || !p.End.Equal(now) || len(p.Proposals) != len(want) {
		t.Fatalf("proposals = %+v", p)
	}
	for i, w := range want {
		g := p.Proposals[i]
		// alice's phone is two groups (two types); addresses is the larger
		// group's count, a lower bound.
		if w.User == "alice" {
			w.Addresses = 2
		}
		if g.User != w.User || g.Device != w.Device || g.Type != w.Type || g.Logins != w.Logins || g.Addresses != w.Addresses ||
			!g.First.Equal(w.First) || !g.Last.Equal(w.Last) {
			t.Errorf("proposal %d = %+v, want %+v", i, g, w)
		}
	}

	// A range that holds erin's old phone only.
	p, err = d.DeviceProposals(ctx, viewer, ProposalQuery{Start: now.Add(-9 * 24 * time.Hour), End: now.Add(-7 * 24 * time.Hour)})
	if err != nil || len(p.Proposals) != 1 || p.Proposals[0].Device != "OLD1" {
		t.Errorf("old range: %+v, %v", p, err)
	}
	if _, err := d.DeviceProposals(ctx, viewer, ProposalQuery{Start: now, End: now.Add(-time.Hour)}); !IsInvalid(err) {
		t.Errorf("reversed range: %v", err)
	}
	if _, err := d.DeviceProposals(ctx, Actor{Name: "nobody"}, ProposalQuery{}); err == nil {
		t.Error("an actor without a role got proposals")
	}

	// Without a registry there is nothing to propose.
	p, err = NewDashboards(st, DashboardOptions{Now: func() time.Time { return now }}).DeviceProposals(ctx, viewer, ProposalQuery{})
	if err != nil || p.Registry || len(p.Proposals) != 0 {
		t.Errorf("without a registry: %+v, %v", p, err)
	}
}
