package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/api"
)

const (
	searchSynopsis = "vigil search [--server URL] [--token TOKEN] [--start T] [--end T] [--timezone ZONE] [--limit N] [--order desc|asc|none] [--scope events|alerts] QUERY"
	searchAbout    = `Searches a running Vigil (LogsQL, docs/api.md) and prints the events as JSON
lines, newest first; --scope alerts searches the alerts instead, which are
kept apart from the events. When more events match than --limit, it says so
on standard error. A query that starts with '-' goes after --. A server with
peers (cluster.peers) searches every node: each event then has vigil.node, and
a node that did not answer is named on standard error.

Times are printed in RFC 3339 with their offset, in --timezone (default:
display.timezone of --config, else this machine's zone). --start and --end
without an offset are read in that zone: --start 2026-12-05 is the moment
that day begins, --end 2026-12-05 the end of that day (both bounds are
inclusive), --start '2026-12-05 08:00' is 08:00 there.`
)

// searchCmd queries a running server and prints the events as JSON lines.
func searchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", searchSynopsis, searchAbout, stderr)
	server, token, data := apiFlags(fs)
	start := fs.String("start", "", "oldest event time: "+timeHelp+"; a date alone is the moment it begins")
	end := fs.String("end", "", "newest event time (inclusive), same forms as --start; a date alone is the end of that day")
	cfgFile, zoneName := configZoneFlags(fs)
	limit := fs.Int("limit", 100, "most events to print")
	order := fs.String("order", "desc", "desc (newest first), asc or none (unordered, fastest)")
	scope := fs.String("scope", "events", "events, or alerts (the detection engine's alerts, kept apart from the events)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	if *limit < 1 {
		fmt.Fprintf(stderr, "vigil search: --limit %d: want 1 or more\n", *limit)
		return errUsage
	}
	loc, err := fileZone(*zoneName, *cfgFile)
	if err != nil {
		return err
	}
	v := url.Values{}
	now := time.Now()
	for name, val := range map[string]string{"start": *start, "end": *end} {
		if val == "" {
			continue
		}
		b, err := timeBound(name, val, now, loc)
		if err != nil {
			fmt.Fprintf(stderr, "vigil search: %v\n", err)
			return errUsage
		}
		v.Set(name, b)
	}
	tok, err := findToken(*token, *data)
	if err != nil {
		return err
	}
	v.Set("q", strings.Join(fs.Args(), " "))
	v.Set("order", *order)
	if *scope != "events" {
		v.Set("scope", *scope)
	}
	// One event more than asked tells whether more match. A server whose
	// http.max_search_limit is exactly --limit refuses the extra one: then
	// ask for --limit alone.
	ask := *limit + 1
	resp, err := searchRequest(ctx, *server, tok, v, ask)
	if ae, ok := errors.AsType[*apiError](err); ok && ae.status == http.StatusBadRequest && strings.HasPrefix(ae.msg, "limit:") {
		ask = *limit
		resp, err = searchRequest(ctx, *server, tok, v, ask)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, f := range resp.Header.Values(api.FailedHeader) {
		// A peer of the server (cluster.peers) did not answer.
		fmt.Fprintf(stderr, "vigil search: warning: node %s; these results are from the other nodes\n", f)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	var out []byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 9 && string(line[:9]) == `{"error":` {
			var e struct{ Error string }
			if json.Unmarshal(line, &e) == nil {
				w.Flush()
				return errors.New(e.Error)
			}
		}
		if n == *limit {
			w.Flush()
			fmt.Fprintf(stderr, "vigil search: showing the first %s; more match (raise --limit)\n", plural(n, "result"))
			return nil
		}
		n++
		out = append(localizeJSON(out[:0], line, loc), '\n')
		w.Write(out)
	}
	return sc.Err()
}

// apiError is an error answer of the API.
type apiError struct {
	status int
	text   string // the HTTP status line's text
	msg    string
}

func (e *apiError) Error() string { return e.text + ": " + e.msg }

// searchRequest sends one search for up to limit events; an answer other
// than 200 is an *apiError.
func searchRequest(ctx context.Context, server, token string, v url.Values, limit int) (*http.Response, error) {
	v.Set("limit", strconv.Itoa(limit))
	return apiRequest(ctx, http.MethodGet, server, "/api/v1/search?"+v.Encode(), token, nil)
}

// apiRequest sends a request to the API with the bearer token; body, when
// not nil, is sent as JSON. An answer other than 2xx is an *apiError.
func apiRequest(ctx context.Context, method, server, path, token string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(server, "/")+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &apiError{status: resp.StatusCode, text: resp.Status}
	var eb struct{ Error string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		e.msg = eb.Error
	} else {
		e.msg = strings.TrimSpace(string(b))
	}
	return nil, e
}

// apiJSON sends in (nil: no body) as JSON and decodes the answer into out
// (nil: ignored).
func apiJSON(ctx context.Context, method, server, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := apiRequest(ctx, method, server, path, token, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// apiFlags adds the flags of the commands that talk to a running server:
// --server, --token and --data (whose token file findToken reads).
func apiFlags(fs *flag.FlagSet) (server, token, data *string) {
	server = fs.String("server", envOr("VIGIL_SERVER", "http://127.0.0.1:8514"), "Vigil API base URL (env VIGIL_SERVER)")
	token = fs.String("token", "", "API token (default: env VIGIL_TOKEN, else the token file in --data)")
	data = fs.String("data", "vigil-data", "data directory whose api-token file is used when no token is given")
	return server, token, data
}

// findToken returns the API token: the flag, then $VIGIL_TOKEN, then the
// token file in the data directory.
func findToken(flagValue, dataDir string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if t := os.Getenv("VIGIL_TOKEN"); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, tokenFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no API token: pass --token, set VIGIL_TOKEN, or run where %s exists (%v)", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
