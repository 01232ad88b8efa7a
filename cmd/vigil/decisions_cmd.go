package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/timefmt"
)

const (
	decisionsSynopsis = `vigil decisions list   [--scope S] [--value V] [--ip ADDR] [--origin O] [--alert ID] [--state S,...] [--limit N] [--json] [--server URL] [--token T] [--timezone ZONE]
       vigil decisions add    [--type ban|captcha|throttle] [--duration D | --until T] [--reason TEXT] [--dry-run] [--server URL] [--token T] SCOPE VALUE
       vigil decisions delete [--server URL] [--token T] ID`
	decisionsAbout = `Lists, makes and deletes enforcement decisions (bans of an ip, range, user or
ActiveSync device) through the API of a running vigil, which holds them and
serves them to bouncers and nginx (as its API token: --token, $VIGIL_TOKEN or
the token file in --data). The enforce policy applies: own networks, private
ranges and allow-listed addresses are refused with the reason. add prints the
decision; its origin is operator:<the token's user>. list shows active and
dry-run decisions unless --state says otherwise (active, dry-run, expired,
deleted, all), times with their offset in --timezone.`
)

// decisionsCmd is `vigil decisions`: a thin client of /api/v1/decisions.
func decisionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "Usage: " + decisionsSynopsis + "\n\n" + decisionsAbout + "\n"
	if len(args) == 0 {
		return groupUsage(args, usage, stdout, stderr)
	}
	sub := args[0]
	switch sub {
	case "list", "add", "delete":
	default:
		return groupUsage(args, usage, stdout, stderr)
	}
	fs := newFlagSet("decisions "+sub, decisionsSynopsis, decisionsAbout, stderr)
	server, token, data := apiFlags(fs)
	scope := fs.String("scope", "", "list: only this scope (ip, range, user, device)")
	value := fs.String("value", "", "list: only this subject (with --scope)")
	ip := fs.String("ip", "", "list: ip decisions of this address and ranges holding it")
	origin := fs.String("origin", "", "list: exact origin, or a prefix ending in ':' (rule:, operator:)")
	alertID := fs.String("alert", "", "list: the decisions made for this alert id")
	state := fs.String("state", "", "list: states, comma-separated: active, dry-run, expired, deleted, all (default active,dry-run)")
	limit := fs.Int("limit", 100, "list: at most this many, newest first (at most 1000)")
	asJSON := fs.Bool("json", false, "list: print the API's JSON, one decision a line")
	typ := fs.String("type", "ban", "add: ban, captcha or throttle")
	duration := fs.String("duration", "", "add: how long, e.g. 4h, 7d")
	until := fs.String("until", "", "add: until this RFC 3339 time (instead of --duration)")
	reason := fs.String("reason", "", "add: why, for the history")
	dryRun := fs.Bool("dry-run", false, "add: record only, never enforce")
	cfgFile, zoneName := configZoneFlags(fs)
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	want := map[string]int{"list": 0, "add": 2, "delete": 1}[sub]
	if fs.NArg() != want {
		fs.Usage()
		return errUsage
	}
	tok, err := findToken(*token, *data)
	if err != nil {
		return err
	}
	call := func(method, path string, in, out any) error {
		return apiJSON(ctx, method, *server, path, tok, in, out)
	}
	switch sub {
	case "list":
		loc, err := fileZone(*zoneName, *cfgFile)
		if err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"scope": *scope, "value": *value, "ip": *ip, "origin": *origin, "alert": *alertID, "state": *state, "limit": strconv.Itoa(*limit)} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var out struct {
			Decisions []json.RawMessage `json:"decisions"`
		}
		if err := call(http.MethodGet, "/api/v1/decisions?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		if *asJSON {
			for _, d := range out.Decisions {
				fmt.Fprintf(stdout, "%s\n", d)
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tVALUE\tTYPE\tSTATE\tUNTIL\tORIGIN\tREASON")
		for _, raw := range out.Decisions {
			var d service.DecisionView
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("decision from the server: %w", err)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Scope, d.Value, d.Type, d.State,
				timefmt.Format(d.Until, loc), d.Origin, orDash(oneLine(d.Reason, 60)))
		}
		return tw.Flush()
	case "add":
		in := service.DecisionInput{Scope: fs.Arg(0), Value: fs.Arg(1), Type: *typ, Duration: *duration, Reason: *reason, DryRun: *dryRun}
		if *until != "" {
			t, err := time.Parse(time.RFC3339, *until)
			if err != nil {
				return fmt.Errorf("--until: want an RFC 3339 time (2026-12-06T18:00:00+08:00), got %q", *until)
			}
			in.Until = t
		}
		var d service.DecisionView
		if err := call(http.MethodPost, "/api/v1/decisions", in, &d); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "decision %d: %s %s %s until %s (%s)\n", d.ID, d.Type, d.Scope, d.Value,
			d.Until.Format(time.RFC3339), d.State)
	case "delete":
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("decision id: want a number, got %q", fs.Arg(0))
		}
		if err := call(http.MethodDelete, "/api/v1/decisions/"+strconv.FormatInt(id, 10), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted decision %d\n", id)
	}
	return nil
}

// oneLine returns s on one line, cut to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
