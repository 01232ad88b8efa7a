package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Server is the API of the running vigil the demo sends to.
type Server struct {
	// URL is the API base (http://127.0.0.1:8514), Token its bearer token.
	URL, Token string
	// Client is the HTTP client; nil means http.DefaultClient.
	Client *http.Client
}

// Status is the part of GET /api/v1/status the demo reads.
type Status struct {
	Inputs []struct {
		Name string `json:"name"`
		TCP  string `json:"tcp"`
	} `json:"inputs"`
	Journal struct {
		NextSeq uint64 `json:"next_seq"`
	} `json:"journal"`
	Index struct {
		Position uint64 `json:"position"`
	} `json:"index"`
	Detect struct {
		Enabled bool `json:"enabled"`
		Engine  struct {
			Rules    int    `json:"rules"`
			Position uint64 `json:"position"`
		} `json:"engine"`
		Alerts struct {
			Journal struct {
				NextSeq uint64 `json:"next_seq"`
			} `json:"journal"`
			Store struct {
				Position uint64 `json:"position"`
			} `json:"store"`
		} `json:"alerts"`
		Lists struct {
			Dir          string     `json:"dir"`
			LastReload   time.Time  `json:"last_reload"`
			ReloadErrors int        `json:"reload_errors"`
			Files        []ListFile `json:"files"`
		} `json:"lists"`
	} `json:"detect"`
}

// ListFile is a list file the server loaded.
type ListFile struct {
	File string `json:"file"`
	List string `json:"list"`
}

// HasList reports whether the server loaded a list of that name.
func (st *Status) HasList(name string) bool {
	return slices.ContainsFunc(st.Detect.Lists.Files, func(f ListFile) bool { return f.List == name })
}

func (s *Server) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// Status fetches the server's status.
func (s *Server) Status(ctx context.Context) (*Status, error) {
	resp, err := s.get(ctx, "/api/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return &st, nil
}

// SyslogAddr returns the address of the server's first TCP syslog input;
// a wildcard listener (0.0.0.0, [::]) is reached at the API's host.
func (st *Status) SyslogAddr(apiURL string) (string, error) {
	for _, in := range st.Inputs {
		if in.TCP == "" {
			continue
		}
		host, port, err := net.SplitHostPort(in.TCP)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			u, err := url.Parse(apiURL)
			if err != nil {
				return "", err
			}
			host = u.Hostname()
		}
		return net.JoinHostPort(host, port), nil
	}
	return "", fmt.Errorf("the server has no TCP syslog input (inputs.syslog in its configuration); pass --syslog")
}

// poll calls f every interval until it reports done, fails or ctx ends.
func poll(ctx context.Context, interval time.Duration, f func() (bool, error)) error {
	for {
		done, err := f()
		if done || err != nil {
			return err
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return err
		}
	}
}

// WaitLists waits until the server has reloaded its lists after since
// and holds the devices and admins lists.
func (s *Server) WaitLists(ctx context.Context, since time.Time) error {
	return poll(ctx, 200*time.Millisecond, func() (bool, error) {
		st, err := s.Status(ctx)
		if err != nil {
			return false, err
		}
		return !st.Detect.Lists.LastReload.Before(since) && st.HasList("devices") && st.HasList("admins"), nil
	})
}

// WaitCaughtUp waits until the indexer and the detector have read every
// journal record appended since first, at least sent of them (lines still
// in flight on the connection count too), and the alerts raised are in
// the store.
func (s *Server) WaitCaughtUp(ctx context.Context, first uint64, sent int) error {
	return poll(ctx, 250*time.Millisecond, func() (bool, error) {
		st, err := s.Status(ctx)
		if err != nil {
			return false, err
		}
		end := st.Journal.NextSeq
		if end < first+uint64(sent) {
			return false, nil
		}
		if st.Index.Position < end {
			return false, nil
		}
		d := st.Detect
		return !d.Enabled || d.Engine.Position >= end && d.Alerts.Store.Position >= d.Alerts.Journal.NextSeq, nil
	})
}

// StoredAlert is an alert as the server stored it.
type StoredAlert struct {
	Rule     string `json:"rule.id"`
	Group    string `json:"alert.group"`
	FollowUp string `json:"alert.follow_up"`
	Level    string `json:"level"`
	Message  string `json:"_msg"`
	Time     string `json:"_time"`
}

// Alerts returns the alerts stored with event times from start on
// (event.dataset:vigil.alert), oldest first.
func (s *Server) Alerts(ctx context.Context, start time.Time) ([]StoredAlert, error) {
	v := url.Values{"q": {"event.dataset:vigil.alert"}, "start": {start.UTC().Format(time.RFC3339)}, "limit": {"10000"}, "order": {"asc"}}
	resp, err := s.get(ctx, "/api/v1/search?"+v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []StoredAlert
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var a StoredAlert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// Compare matches stored alerts with the expected ones by rule and group:
// missing are expected alerts the server did not raise, unexpected the
// first alerts (not follow-ups) of other rules and groups, and extra the
// expected ones raised more than once as first alerts.
func Compare(want []Alert, got []StoredAlert) (missing, unexpected []Alert, extra []Alert) {
	type key struct{ rule, group string }
	n := map[key]int{}
	for _, a := range got {
		if a.FollowUp == "true" {
			continue
		}
		n[key{a.Rule, a.Group}]++
	}
	expected := map[key]bool{}
	for _, a := range want {
		k := key{a.Rule, a.Group}
		expected[k] = true
		switch c := n[k]; {
		case c == 0:
			missing = append(missing, a)
		case c > 1:
			extra = append(extra, a)
		}
	}
	for _, a := range got {
		k := key{a.Rule, a.Group}
		if a.FollowUp != "true" && !expected[k] {
			unexpected = append(unexpected, Alert{Rule: a.Rule, Group: a.Group})
			expected[k] = true // once
		}
	}
	return missing, unexpected, extra
}
