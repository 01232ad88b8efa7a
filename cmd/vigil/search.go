package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const searchSynopsis = "vigil search [--server URL] [--token TOKEN] [--start T] [--end T] [--limit N] [--order desc|asc|none] QUERY"

// searchCmd queries a running server and prints the events as JSON lines.
func searchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", searchSynopsis, stderr)
	server := fs.String("server", envOr("VIGIL_SERVER", "http://127.0.0.1:8514"), "Vigil API base URL (env VIGIL_SERVER)")
	token := fs.String("token", "", "API token (default: env VIGIL_TOKEN, else the token file in --data)")
	data := fs.String("data", "vigil-data", "data directory whose api-token file is used when no token is given")
	start := fs.String("start", "", "oldest event time: RFC3339, a date, Unix seconds or a duration back from now (1h, 7d)")
	end := fs.String("end", "", "newest event time, same forms as --start")
	limit := fs.Int("limit", 100, "most events to print")
	order := fs.String("order", "desc", "desc (newest first), asc or none (unordered, fastest)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	tok, err := findToken(*token, *data)
	if err != nil {
		return err
	}
	v := url.Values{}
	v.Set("q", strings.Join(fs.Args(), " "))
	v.Set("limit", strconv.Itoa(*limit))
	v.Set("order", *order)
	if *start != "" {
		v.Set("start", *start)
	}
	if *end != "" {
		v.Set("end", *end)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*server, "/")+"/api/v1/search?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 9 && string(line[:9]) == `{"error":` {
			var e struct{ Error string }
			if json.Unmarshal(line, &e) == nil {
				w.Flush()
				return errors.New(e.Error)
			}
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	return sc.Err()
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
