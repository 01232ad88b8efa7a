package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/timefmt"
)

const (
	bouncersSynopsis = `vigil bouncers list   [--data DIR | --server URL [--token T]] [--timezone ZONE]
       vigil bouncers add    [--data DIR | --server URL] NAME
       vigil bouncers delete [--data DIR | --server URL] NAME`
	bouncersAbout = `Manages the keys of CrowdSec bouncers, which pull Vigil's decisions from
/v1/decisions/stream and /v1/decisions with the key in X-Api-Key
(docs/integrations/crowdsec.md). add prints the new key as the last line of
its output: it is stored hashed and cannot be shown again. delete revokes a
key at once. list shows each bouncer's latest pull.

With --server, through the API of a running vigil (as its API token:
--token, $VIGIL_TOKEN or the token file in --data); without, by opening
<data>/state.db directly, which works only while no vigil runs on that
data directory.`
)

// bouncersCmd manages bouncer keys (service.Bouncers), directly on the
// state file or through a running server's API.
func bouncersCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "Usage: " + bouncersSynopsis + "\n\n" + bouncersAbout + "\n"
	if len(args) == 0 {
		return groupUsage(args, usage, stdout, stderr)
	}
	sub := args[0]
	switch sub {
	case "list", "add", "delete":
	default:
		return groupUsage(args, usage, stdout, stderr)
	}
	fs := newFlagSet("bouncers "+sub, bouncersSynopsis, bouncersAbout, stderr)
	data, server, token := stateFlags(fs)
	cfgFile, zoneName := configZoneFlags(fs)
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	if fs.NArg() != want {
		fs.Usage()
		return errUsage
	}
	name := fs.Arg(0)
	var bs bouncerAdmin
	if *server != "" {
		tok, err := findToken(*token, *data)
		if err != nil {
			return err
		}
		bs = &remoteBouncers{remoteUsers{server: *server, token: tok}}
	} else {
		db, err := openState(*data)
		if err != nil {
			return err
		}
		defer db.Close()
		bs = &localBouncers{b: service.NewBouncers(db, nil),
			a: service.Actor{Name: "cli", Role: service.RoleAdmin, Via: "cli"}}
	}
	switch sub {
	case "list":
		loc, err := fileZone(*zoneName, *cfgFile)
		if err != nil {
			return err
		}
		list, err := bs.list(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tLAST PULL\tADDRESS\tUSER AGENT")
		for _, b := range list {
			last := "-"
			if !b.LastPull.IsZero() {
				last = timefmt.Format(b.LastPull, loc)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Name, timefmt.Format(b.Created, loc), last, orDash(b.LastAddr), orDash(b.LastAgent))
		}
		return tw.Flush()
	case "add":
		key, err := bs.add(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "API key for bouncer %s (keep it: it cannot be shown again):\n%s\n", name, key)
	case "delete":
		if err := bs.delete(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted bouncer %s; its key no longer works\n", name)
	}
	return nil
}

// bouncerAdmin is what the bouncers commands do, on the file or through
// the API.
type bouncerAdmin interface {
	list(ctx context.Context) ([]service.BouncerInfo, error)
	add(ctx context.Context, name string) (string, error)
	delete(ctx context.Context, name string) error
}

// localBouncers works on the state file.
type localBouncers struct {
	b *service.Bouncers
	a service.Actor
}

func (l *localBouncers) list(ctx context.Context) ([]service.BouncerInfo, error) {
	return l.b.List(ctx, l.a)
}
func (l *localBouncers) add(ctx context.Context, name string) (string, error) {
	return l.b.Add(ctx, l.a, name)
}
func (l *localBouncers) delete(ctx context.Context, name string) error {
	return l.b.Delete(ctx, l.a, name)
}

// remoteBouncers goes through /api/v1/bouncers.
type remoteBouncers struct {
	remoteUsers // for call
}

func (r *remoteBouncers) list(ctx context.Context) ([]service.BouncerInfo, error) {
	var out struct{ Bouncers []service.BouncerInfo }
	err := r.call(ctx, http.MethodGet, "/api/v1/bouncers", nil, &out)
	return out.Bouncers, err
}

func (r *remoteBouncers) add(ctx context.Context, name string) (string, error) {
	var out struct{ Key string }
	err := r.call(ctx, http.MethodPost, "/api/v1/bouncers", map[string]string{"name": name}, &out)
	return out.Key, err
}

func (r *remoteBouncers) delete(ctx context.Context, name string) error {
	return r.call(ctx, http.MethodDelete, "/api/v1/bouncers/"+url.PathEscape(name), nil, nil)
}
