package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/api"
	"github.com/vigil-soc/vigil/internal/cluster"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

const tok = "peer-token-0123456789"

// TestPeer runs a Peer against a real node's API (a store of three
// journaled events) that has a peer of its own, a trap that counts
// requests: the node answers the Peer from its own store alone, with the
// ids of its events, and fans out only for a request without the header.
func TestPeer(t *testing.T) {
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour, StreamFields: []string{"vigil.input"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	for seq := 1; seq <= 3; seq++ {
		err := st.Add([]store.Row{{Time: now.Add(-time.Duration(seq) * time.Minute), Fields: []store.Field{
			{Name: "vigil.input", Value: "syslog"}, {Name: "vigil.seq", Value: strconv.Itoa(seq)},
			{Name: "_msg", Value: fmt.Sprintf("line %d", seq)}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Flush()
	raw := func(_ context.Context, from uint64, count int, fn func(*journal.Record) error) error {
		return fn(&journal.Record{Seq: from, Time: now, Input: "syslog", Data: fmt.Appendf(nil, "<13>line %d", from)})
	}

	var trapped atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trapped.Add(1)
		http.Error(w, `{"error":"trap"}`, http.StatusInternalServerError)
	}))
	t.Cleanup(trap.Close)
	trapPeer, err := cluster.NewPeer(cluster.Config{Name: "c", URL: trap.URL, Token: tok}, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := search.New(st, search.Limits{}, nil)
	searches := service.NewSearches(svc, service.SearchOptions{Raw: raw, JournalID: 0xb, Node: "b",
		Peers: []service.Peer{trapPeer}, PeerTimeout: time.Minute})
	h, err := api.New(svc, api.Options{Tokens: []string{tok}, Searches: searches}, nil)
	if err != nil {
		t.Fatal(err)
	}
	node := httptest.NewServer(h)
	t.Cleanup(node.Close)

	p, err := cluster.NewPeer(cluster.Config{Name: "b", URL: node.URL + "/", Token: tok}, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rows []store.Row
	err = p.Search(ctx, store.Query{Text: "*", Start: now.Add(-time.Hour), End: now, Order: store.Newest},
		func(r store.Row) error { rows = append(rows, r); return nil })
	if err != nil || len(rows) != 3 {
		t.Fatalf("search: %d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		want := fmt.Sprintf("%016x%016x", 0xb, i+1)
		if r.Get("event.id") != want || r.Get("_msg") != fmt.Sprintf("line %d", i+1) || !r.Time.Equal(now.Add(-time.Duration(i+1)*time.Minute)) {
			t.Errorf("row %d: %v %v, want id %s", i, r.Time, r.Fields, want)
		}
	}
	// No limit for a peer: the counts of stats need every row.
	var n string
	err = p.Search(ctx, store.Query{Text: "* | stats count() n", Start: now.Add(-time.Hour), End: now}, func(r store.Row) error {
		n = r.Get("n")
		return nil
	})
	if err != nil || n != "3" {
		t.Errorf("stats: %q, %v", n, err)
	}
	id := fmt.Sprintf("%016x%016x", 0xb, 2)
	d, err := p.Event(ctx, id, time.Time{})
	if err != nil || d.ID != id || d.Get("_msg") != "line 2" || d.Raw == nil || string(d.Raw.Data) != "<13>line 2" || d.RawText != "<13>line 2" {
		t.Fatalf("event: %+v, %v", d, err)
	}
	if _, err := p.Event(ctx, fmt.Sprintf("%016x%016x", 0xb, 9), time.Time{}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("no such event: %v", err)
	}
	if got := trapped.Load(); got != 0 {
		t.Errorf("a peer's request reached the node's own peer %d times", got)
	}
	if err := p.Search(ctx, store.Query{Text: `"unclosed`}, func(store.Row) error { return nil }); err == nil {
		t.Error("a bad query: no error")
	}

	// A request without the header: the node asks its peer too and
	// names it as failed.
	req, _ := http.NewRequest(http.MethodGet, node.URL+"/api/v1/search?q=*&start=1h", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values(api.FailedHeader); resp.StatusCode != 200 || len(got) != 1 || got[0] != "c: answered 500 Internal Server Error: trap" || trapped.Load() == 0 {
		t.Errorf("a user's search: %d, failed %q, trap asked %d times", resp.StatusCode, got, trapped.Load())
	}

	bad, _ := cluster.NewPeer(cluster.Config{Name: "b", URL: node.URL, Token: "wrong-token-0123456789"}, "a", nil)
	var ae *cluster.AnswerError
	if err := bad.Search(ctx, store.Query{Text: "*"}, func(store.Row) error { return nil }); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("wrong token: %v", err)
	}
}
