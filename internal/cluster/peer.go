// Package cluster lets one node's searches read the stores of the other
// nodes (cluster.peers): a Peer is another node's API, asked for rows of
// LogsQL queries and for single events, authenticated with that node's
// token. Requests carry the Header, so that the peer answers from its
// own store and never asks its own peers in turn.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
)

// Header marks a request of one node to another: its value is the
// asking node's name. A node answers such a request from its own store.
const Header = "Vigil-Peer"

// Config is one peer as cluster.peers names it.
type Config struct {
	Name string
	// URL is the peer's API base URL.
	URL string
	// Token is one of the peer's API tokens.
	Token string
	// CAFile, when set, holds the CA of an https peer's certificate.
	CAFile string
}

// Metrics count the peers' answers; one Metrics serves every Peer.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics registers the peers' metrics on reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_cluster_peer_requests_total",
		Help: "Requests of this node's searches to its peers (cluster.peers), by peer and result: ok, error (no answer or an error answer), timeout (cluster.peer_timeout or the search's end).",
	}, []string{"peer", "result"})}
	if reg != nil {
		reg.MustRegister(m.requests)
	}
	return m
}

// Peer is another node's API. It implements service.Peer.
type Peer struct {
	cfg    Config
	self   string // this node's name, the Header's value
	base   *url.URL
	client *http.Client
	m      *Metrics
}

// NewPeer returns the peer cfg names, asked by the node named self.
func NewPeer(cfg Config, self string, m *Metrics) (*Peer, error) {
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("cluster: peer %s: url: %w", cfg.Name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 0 // the search's context bounds it
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: peer %s: ca_file: %w", cfg.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster: peer %s: ca_file %s: no PEM certificate", cfg.Name, cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	for _, r := range []string{"ok", "error", "timeout"} {
		m.requests.WithLabelValues(cfg.Name, r)
	}
	return &Peer{cfg: cfg, self: self, base: base, client: &http.Client{Transport: tr}, m: m}, nil
}

// Name returns the peer's name.
func (p *Peer) Name() string { return p.cfg.Name }

// get sends GET path?v to the peer and returns its answer when it is
// 200; any other is an error that says what the peer said.
func (p *Peer) get(ctx context.Context, path string, v url.Values) (*http.Response, error) {
	u := *p.base
	u.Path += path
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	req.Header.Set(Header, p.self)
	resp, err := p.client.Do(req)
	if err != nil {
		p.count(ctx, err)
		var ue *url.Error
		if errors.As(err, &ue) {
			// Without the request's URL: its query is long and
			// says nothing of what went wrong.
			err = fmt.Errorf("%s: %w", p.cfg.URL, ue.Err)
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct{ Error string }
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	err = &AnswerError{Status: resp.StatusCode, Msg: msg}
	if resp.StatusCode == http.StatusNotFound {
		p.count(ctx, nil) // an answer: no such event
	} else {
		p.count(ctx, err)
	}
	return nil, err
}

// AnswerError is an answer of a peer other than 200.
type AnswerError struct {
	Status int
	Msg    string
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// count counts a request's end.
func (p *Peer) count(ctx context.Context, err error) {
	r := "ok"
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r = "timeout"
	default:
		r = "error"
	}
	p.m.requests.WithLabelValues(p.cfg.Name, r).Inc()
}

// Search runs q on the peer's store: GET /api/v1/search, whose JSON
// lines it reads back into rows.
func (p *Peer) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	v := url.Values{"q": {q.Text}, "limit": {strconv.Itoa(q.Limit)}}
	if !q.Start.IsZero() {
		v.Set("start", q.Start.UTC().Format(time.RFC3339Nano))
	}
	if !q.End.IsZero() {
		v.Set("end", q.End.UTC().Format(time.RFC3339Nano))
	}
	if q.Scope == store.Alerts {
		v.Set("scope", "alerts")
	}
	switch q.Order {
	case store.Oldest:
		v.Set("order", "asc")
	case store.Unordered:
		v.Set("order", "none")
	}
	resp, err := p.get(ctx, "/api/v1/search", v)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = readRows(resp.Body, fn)
	p.count(ctx, err)
	return err
}

// readRows reads JSON lines of rows (eventjson.AppendRow), calling fn
// for each; a line {"error": ...} is the peer's error.
func readRows(r io.Reader, fn func(store.Row) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var row store.Row
	for sc.Scan() {
		line := sc.Bytes()
		if err := decodeRow(line, &row); err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return sc.Err()
}

// decodeRow reads one JSON object of string values into row, its fields
// in their order; _time is the row's time.
func decodeRow(line []byte, row *store.Row) error {
	row.Time, row.Fields = time.Time{}, nil
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("peer answer: not a JSON object: %.100q", line)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return fmt.Errorf("peer answer: %w", err)
		}
		v, err := dec.Token()
		name, _ := k.(string)
		value, ok := v.(string)
		if err != nil || !ok {
			return fmt.Errorf("peer answer: field %q: not a string", name)
		}
		switch name {
		case "error":
			if len(row.Fields) == 0 {
				return errors.New(value)
			}
		case "_time":
			if t, err := time.Parse(time.RFC3339Nano, value); err == nil {
				row.Time = t
				continue
			}
		}
		row.Fields = append(row.Fields, store.Field{Name: name, Value: value})
	}
	return nil
}

// Event returns the event with id from the peer's store: GET
// /api/v1/events/{id}.
func (p *Peer) Event(ctx context.Context, id string, at time.Time) (*service.EventDetail, error) {
	v := url.Values{}
	if !at.IsZero() {
		v.Set("at", at.UTC().Format(time.RFC3339Nano))
	}
	resp, err := p.get(ctx, "/api/v1/events/"+url.PathEscape(id), v)
	var ae *AnswerError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, fmt.Errorf("event %s: %w on %s", id, service.ErrNotFound, p.cfg.Name)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var e struct {
		ID         string          `json:"id"`
		Time       time.Time       `json:"time"`
		Fields     json.RawMessage `json:"fields"`
		Raw        *rawRecord      `json:"raw"`
		RawText    *string         `json:"raw_text"`
		RawCharset string          `json:"raw_charset"`
		RawNote    string          `json:"raw_note"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&e)
	p.count(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("peer answer: %w", err)
	}
	var row store.Row
	if err := decodeRow(e.Fields, &row); err != nil {
		return nil, err
	}
	d := &service.EventDetail{Event: service.Event{ID: e.ID, Time: e.Time, Fields: row.Fields}, RawNote: e.RawNote}
	if e.Raw != nil {
		rec, err := e.Raw.record()
		if err != nil {
			return nil, fmt.Errorf("peer answer: raw: %w", err)
		}
		d.Raw = rec
		d.RawCharset = charset.UTF8
		if e.RawCharset != "" {
			if d.RawCharset, err = charset.Lookup(e.RawCharset); err != nil {
				return nil, fmt.Errorf("peer answer: raw_charset: %w", err)
			}
		}
		d.RawText = string(rec.Data)
		if e.RawText != nil {
			d.RawText = *e.RawText
		}
	}
	return d, nil
}

// rawRecord is a journal record as eventjson.AppendRecord writes it.
type rawRecord struct {
	Seq        string  `json:"seq"`
	Received   string  `json:"received"`
	Input      string  `json:"input"`
	Peer       string  `json:"peer"`
	Truncated  string  `json:"truncated"`
	Origin     *string `json:"origin"`
	Data       *string `json:"data"`
	DataBase64 *string `json:"data_base64"`
}

func (r *rawRecord) record() (*journal.Record, error) {
	seq, err := strconv.ParseUint(r.Seq, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("seq %q", r.Seq)
	}
	at, err := time.Parse(time.RFC3339Nano, r.Received)
	if err != nil {
		return nil, fmt.Errorf("received %q", r.Received)
	}
	rec := &journal.Record{Seq: seq, Time: at, Input: r.Input, Peer: r.Peer}
	if r.Truncated == "true" {
		rec.Flags |= journal.FlagTruncated
	}
	if r.Origin != nil {
		rec.Origin = []byte(*r.Origin)
	}
	switch {
	case r.Data != nil:
		rec.Data = []byte(*r.Data)
	case r.DataBase64 != nil:
		if rec.Data, err = base64.StdEncoding.DecodeString(*r.DataBase64); err != nil {
			return nil, fmt.Errorf("data_base64: %w", err)
		}
	}
	return rec, nil
}
