package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
)

// hookServer records the requests it gets and answers from a script of
// status codes (the last one repeats).
type hookServer struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	times   []time.Time
	codes   []int
	extra   map[int]http.Header // headers for the answer to request i
	block   chan struct{}       // when set, requests wait for it to close
}

func newHookServer(t *testing.T, codes ...int) *hookServer {
	h := &hookServer{codes: codes, extra: map[int]http.Header{}}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	i := len(h.bodies)
	h.bodies = append(h.bodies, body)
	h.headers = append(h.headers, r.Header.Clone())
	h.times = append(h.times, time.Now())
	code := http.StatusOK
	if len(h.codes) > 0 {
		code = h.codes[min(i, len(h.codes)-1)]
	}
	for k, v := range h.extra[i] {
		w.Header()[k] = v
	}
	block := h.block
	h.mu.Unlock()
	if block != nil {
		<-block
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte("answer " + http.StatusText(code)))
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func (h *hookServer) ids(t *testing.T) []string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, b := range h.bodies {
		var a alert.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

func newWebhookNotifier(t *testing.T, wc WebhookConfig) (*Notifier, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return newNotifier(t, Config{Webhooks: []WebhookConfig{wc}}, reg, 5*time.Second), reg
}

func TestWebhookSuccess(t *testing.T) {
	h := newHookServer(t)
	n, reg := newWebhookNotifier(t, WebhookConfig{
		Name:    "hook",
		URL:     h.URL + "/hooks/secret-token",
		Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Extra": "1"},
	})
	a := testAlert(1)
	n.Send(a)
	waitFor(t, "sent", func() bool { return statusOf(t, n, "hook").Sent == 1 })

	want, _ := a.MarshalJSON()
	h.mu.Lock()
	got, hdr := h.bodies[0], h.headers[0]
	h.mu.Unlock()
	if !bytes.Equal(got, want) {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	for k, v := range map[string]string{"Authorization": "Bearer s3cret", "X-Extra": "1", "Content-Type": "application/json"} {
		if hdr.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, hdr.Get(k), v)
		}
	}
	st := statusOf(t, n, "hook")
	if st.Kind != kindWebhook || st.Errors != 0 || st.Failed != 0 || st.LastSuccessTime.IsZero() || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	if strings.Contains(st.Target, "secret") {
		t.Errorf("target %q shows the URL path", st.Target)
	}
	if v := metricValue(t, reg, "vigil_notify_sent_total", "hook"); v != 1 {
		t.Errorf("sent_total = %v", v)
	}
}

func TestWebhookStatus(t *testing.T) {
	tests := []struct {
		name        string
		codes       []int
		retryAfter  string
		requests    int // requests the server gets
		sent        uint64
		failed      uint64
		errors      uint64
		errContains string
	}{
		{name: "500 then ok", codes: []int{500, 200}, requests: 2, sent: 1, errors: 1, errContains: "HTTP 500"},
		{name: "429 then ok", codes: []int{429, 429, 204}, requests: 3, sent: 1, errors: 2, errContains: "HTTP 429"},
		{name: "400 not retried", codes: []int{400}, requests: 1, failed: 1, errors: 1, errContains: "HTTP 400 Bad Request: answer Bad Request"},
		{name: "403 not retried", codes: []int{403}, requests: 1, failed: 1, errors: 1, errContains: "HTTP 403"},
		{name: "redirect not followed", codes: []int{302}, requests: 1, failed: 1, errors: 1, errContains: "not followed"},
		{name: "always 503", codes: []int{503}, requests: 3, failed: 1, errors: 3, errContains: "after 3 attempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHookServer(t, tc.codes...)
			n, reg := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: h.URL, Delivery: fastRetry(10, 3)})
			n.Send(testAlert(1))
			waitFor(t, "outcome", func() bool {
				st := statusOf(t, n, "hook")
				return st.Sent+st.Failed == 1
			})
			st := statusOf(t, n, "hook")
			if h.count() != tc.requests || st.Sent != tc.sent || st.Failed != tc.failed || st.Errors != tc.errors {
				t.Errorf("requests %d, status %+v; want requests %d sent %d failed %d errors %d",
					h.count(), st, tc.requests, tc.sent, tc.failed, tc.errors)
			}
			if !strings.Contains(st.LastError, tc.errContains) {
				t.Errorf("last error %q, want it to contain %q", st.LastError, tc.errContains)
			}
			if st.LastErrorTime.IsZero() {
				t.Error("last error time not set")
			}
			if v := metricValue(t, reg, "vigil_notify_errors_total", "hook"); v != float64(tc.errors) {
				t.Errorf("errors_total = %v", v)
			}
			if v := metricValue(t, reg, "vigil_notify_failed_total", "hook"); v != float64(tc.failed) {
				t.Errorf("failed_total = %v", v)
			}
		})
	}
}

func TestWebhookRetryAfter(t *testing.T) {
	h := newHookServer(t, 503, 200)
	h.extra[0] = http.Header{"Retry-After": {"1"}}
	n, _ := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: h.URL, Delivery: fastRetry(10, 5)})
	n.Send(testAlert(1))
	waitFor(t, "sent", func() bool { return statusOf(t, n, "hook").Sent == 1 })
	h.mu.Lock()
	gap := h.times[1].Sub(h.times[0])
	h.mu.Unlock()
	// The backoff alone is 1ms: the second request waited for Retry-After.
	if gap < 900*time.Millisecond {
		t.Errorf("second request %v after the first, want Retry-After's 1s", gap)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"Thu, 01 Jan 2026 00:00:10 GMT", 10 * time.Second, true},
		{"Wed, 31 Dec 2025 00:00:00 GMT", 0, true},
		{"99999999999", 24 * time.Hour, true},
	}
	for _, tc := range tests {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWebhookQueueOverflow(t *testing.T) {
	h := newHookServer(t)
	release := make(chan struct{})
	h.block = release
	n, reg := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: h.URL, Delivery: fastRetry(3, 3)})
	n.Send(testAlert(0))
	// The worker holds alert 0 in a request; the queue takes 3 more.
	waitFor(t, "first request", func() bool { return h.count() == 1 })
	for i := 1; i <= 9; i++ {
		n.Send(testAlert(i))
	}
	st := statusOf(t, n, "hook")
	if st.Dropped != 6 || st.Queued != 3 {
		t.Errorf("status %+v, want 6 dropped and 3 queued", st)
	}
	if v := metricValue(t, reg, "vigil_notify_dropped_total", "hook"); v != 6 {
		t.Errorf("dropped_total = %v, want 6", v)
	}
	if v := metricValue(t, reg, "vigil_notify_queue_length", "hook"); v != 3 {
		t.Errorf("queue_length = %v, want 3", v)
	}
	h.mu.Lock()
	h.block = nil
	h.mu.Unlock()
	close(release)
	waitFor(t, "delivery", func() bool { return statusOf(t, n, "hook").Sent == 4 })
	var want []string
	for _, i := range []int{0, 7, 8, 9} {
		want = append(want, testAlert(i).ID)
	}
	if got := h.ids(t); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delivered %v, want the first and the 3 newest %v", got, want)
	}
	if v := metricValue(t, reg, "vigil_notify_queue_length", "hook"); v != 0 {
		t.Errorf("queue_length = %v, want 0", v)
	}
}

func TestWebhookErrorHidesURL(t *testing.T) {
	addr := deadAddr(t)
	n, _ := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: "http://" + addr + "/services/T0/B0/topsecret", Delivery: fastRetry(10, 2)})
	n.Send(testAlert(1))
	waitFor(t, "failure", func() bool { return statusOf(t, n, "hook").Failed == 1 })
	st := statusOf(t, n, "hook")
	if strings.Contains(st.LastError, "topsecret") || !strings.Contains(st.LastError, addr) {
		t.Errorf("last error %q: want the host, not the path", st.LastError)
	}
}

func TestWebhookTLS(t *testing.T) {
	p := newPKI(t)
	var got int
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
	}))
	srv.TLS = newServerTLS(p, false)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	n, _ := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: srv.URL, TLS: TLSConfig{CAFile: p.caFile}})
	n.Send(testAlert(1))
	waitFor(t, "sent", func() bool { return statusOf(t, n, "hook").Sent == 1 })
	mu.Lock()
	defer mu.Unlock()
	if got != 1 {
		t.Errorf("server got %d requests", got)
	}
}
