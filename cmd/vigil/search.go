package main

import (
	"bufio"
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
)

const (
	searchSynopsis = "vigil search [--server URL] [--token TOKEN] [--start T] [--end T] [--limit N] [--order desc|asc|none] QUERY"
	searchAbout    = `Searches a running Vigil (LogsQL, docs/api.md) and prints the events as JSON
lines, newest first. When more events match than --limit, it says so on
standard error. A query that starts with '-' goes after --.`
)

// searchCmd queries a running server and prints the events as JSON lines.
func searchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", searchSynopsis, searchAbout, stderr)
	server, token, data := apiFlags(fs)
	start := fs.String("start", "", "oldest event time: RFC3339, a date, Unix seconds or a duration back from now (1h, 7d)")
	end := fs.String("end", "", "newest event time, same forms as --start")
	limit := fs.Int("limit", 100, "most events to print")
	order := fs.String("order", "desc", "desc (newest first), asc or none (unordered, fastest)")
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
	tok, err := findToken(*token, *data)
	if err != nil {
		return err
	}
	v := url.Values{}
	v.Set("q", strings.Join(fs.Args(), " "))
	v.Set("order", *order)
	if *start != "" {
		v.Set("start", *start)
	}
	if *end != "" {
		v.Set("end", *end)
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
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
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
		w.Write(line)
		w.WriteByte('\n')
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/api/v1/search?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &apiError{status: resp.StatusCode, text: resp.Status}
	var body struct{ Error string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.msg = body.Error
	} else {
		e.msg = strings.TrimSpace(string(b))
	}
	return nil, e
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
