package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/demo"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/timefmt"
)

const (
	demoSynopsis = "vigil demo [--server URL] [--token TOKEN] [--data DIR] [--lists DIR] [--syslog ADDR] [--seed N] [--users N] [--rate N] [--print]"
	demoAbout    = `Sends a realistic day of a mail service's logs in fast-forward through the
syslog input of a running Vigil: a few hundred users with their phones,
office hours and typos, and attack episodes that each trip rules of the
built-in pack (docs/demo.md). The day ends now; run it once, on a fresh
server. --lists writes the device registry and the admins list the demo
expects into the server's detect.lists_dir first; the geographic episodes
need a GeoIP database (geoip.databases). At the end it lists the alerts it
expected and the ones the server raised.`
)

// demoCmd generates the demo day and sends it to a running server.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoSynopsis, demoAbout, stderr)
	server, token, data := apiFlags(fs)
	listsDir := fs.String("lists", "", "the server's detect.lists_dir: write the demo's devices.yaml and admins.txt there first")
	syslogAddr := fs.String("syslog", "", "the server's TCP syslog address (default: its first TCP syslog input, from /api/v1/status)")
	seed := fs.Uint64("seed", 1, "seed of the people, habits and addresses")
	users := fs.Int("users", demo.DefaultUsers, "mailboxes (100 to 2000)")
	rate := fs.Int("rate", 20000, "most lines a second (0: as fast as the server takes them)")
	endFlag := fs.String("end", "", "when the simulated day ends (default: now; not in the future): "+timeHelp+"; a date alone is the end of that day")
	cfgFile, zoneName := configZoneFlags(fs)
	print := fs.Bool("print", false, "print the lines to standard output instead of sending them")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the server to index and check the day after sending")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	loc, err := fileZone(*zoneName, *cfgFile)
	if err != nil {
		return err
	}
	end := time.Now()
	if *endFlag != "" {
		t, err := service.ParseEnd(*endFlag, end, loc)
		if err != nil {
			fmt.Fprintf(stderr, "vigil demo: --end: %v\n", err)
			return errUsage
		}
		if t.After(end) {
			fmt.Fprintf(stderr, "vigil demo: --end %s is in the future: the server would take the day for a clock that runs ahead\n", timefmt.Format(t, loc))
			return errUsage
		}
		end = t
	}
	sc, err := demo.Generate(demo.Options{Seed: *seed, End: end, Users: *users})
	if err != nil {
		return err
	}
	if *print {
		// The lines and lists for offline use: vigil rules test --in-order.
		if *listsDir != "" {
			if err := sc.WriteLists(*listsDir); err != nil {
				return err
			}
		}
		_, err := sc.WriteTo(stdout)
		return err
	}

	tok, err := findToken(*token, *data)
	if err != nil {
		return err
	}
	srv := &demo.Server{URL: *server, Token: tok}
	st, err := srv.Status(ctx)
	if err != nil {
		return fmt.Errorf("cannot reach the server (is vigil serve running? --server): %w", err)
	}
	addr := *syslogAddr
	if addr == "" {
		if addr, err = st.SyslogAddr(*server); err != nil {
			return err
		}
	}
	if *listsDir != "" {
		written := time.Now()
		if err := sc.WriteLists(*listsDir); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "vigil demo: wrote %s and %s into %s; waiting for the server to load them\n", demo.DevicesFile, demo.AdminsFile, *listsDir)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := srv.WaitLists(wctx, written)
		cancel()
		if err != nil {
			return fmt.Errorf("the server did not load the lists within 30 s (is %s its detect.lists_dir?): %w", *listsDir, err)
		}
		if st, err = srv.Status(ctx); err != nil {
			return err
		}
	}
	for _, l := range []string{"devices", "admins"} {
		if !st.HasList(l) {
			fmt.Fprintf(stderr, "vigil demo: the server has no %q list: the rules that need it stay quiet (use --lists with its detect.lists_dir)\n", l)
		}
	}

	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("syslog input: %w", err)
	}
	defer conn.Close()
	first := st.Journal.NextSeq
	fmt.Fprintf(stderr, "vigil demo: sending %d lines (%s to %s) to %s\n", len(sc.Lines),
		timefmt.Format(sc.Start.Add(-demo.History), loc), timefmt.Format(sc.End, loc), addr)
	sent, err := demo.Send(ctx, conn, sc.Lines, demo.SendOptions{Rate: *rate, Progress: func(n int, at time.Time) {
		fmt.Fprintf(stderr, "  %7d lines sent, simulated time %s\n", n, timefmt.Format(at, loc))
	}})
	if err == nil {
		err = conn.Close()
	}
	if err != nil {
		return fmt.Errorf("sending to %s after %d lines: %w", addr, sent, err)
	}

	counts := sc.Counts()
	fmt.Fprintf(stderr, "\nSent %d lines:", sent)
	for _, k := range demo.Kinds {
		fmt.Fprintf(stderr, " %s %d", k, counts[k])
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stderr, "\nEpisodes and the alerts they should raise:\n")
	for _, e := range sc.Episodes {
		fmt.Fprintf(stderr, "  %s: %s\n", e.Name, e.Title)
		for _, a := range e.Expect {
			fmt.Fprintf(stderr, "      %s\n", a)
		}
	}

	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	fmt.Fprintf(stderr, "\nWaiting for the server to index and check the day ...\n")
	if err := srv.WaitCaughtUp(wctx, first, sent); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "vigil demo: the server had not caught up after %s; check later with: vigil search --scope alerts '*'\n", *wait)
		} else {
			return err
		}
	} else {
		got, err := srv.Alerts(ctx, sc.Start.Add(-demo.History))
		if err != nil {
			return err
		}
		missing, unexpected, extra := demo.Compare(sc.Expected(), got)
		fmt.Fprintf(stderr, "The server raised %d alerts (follow-ups included) for the %d expected.\n", len(got), len(sc.Expected()))
		for _, a := range missing {
			fmt.Fprintf(stderr, "  missing:    %s (%s; see docs/demo.md for what the server needs)\n", a, a.Episode)
		}
		for _, a := range unexpected {
			fmt.Fprintf(stderr, "  unexpected: %s\n", a)
		}
		for _, a := range extra {
			fmt.Fprintf(stderr, "  twice:      %s\n", a)
		}
	}
	base := strings.TrimRight(*server, "/")
	fmt.Fprintf(stderr, "\nOpen the console at %s/ or list the alerts with:\n  vigil search --scope alerts --start 2d '*'\n", base)
	return nil
}
