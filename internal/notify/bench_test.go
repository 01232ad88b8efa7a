package notify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vigil-soc/vigil/internal/alert"
)

// BenchmarkSend measures the detection engine's side: Send with the
// alert filtered out by min_level; Send onto a webhook channel whose
// worker is stuck in a request (every Send drops the oldest alert); and
// Send onto one and three syslog channels whose workers deliver over
// loopback UDP meanwhile (B/op includes the workers' allocations).
func BenchmarkSend(b *testing.B) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	stall := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stall }))
	defer hook.Close()
	defer close(stall)
	cases := []struct {
		name string
		cfg  Config
	}{
		{"filtered", Config{Syslog: []SyslogConfig{{Address: addr, MinLevel: alert.LevelCritical}}}},
		{"stalled", Config{Webhooks: []WebhookConfig{{URL: hook.URL, Delivery: Delivery{QueueSize: 100}}}}},
		{"queued", Config{Syslog: []SyslogConfig{{Address: addr}}}},
		{"queued3", Config{Syslog: []SyslogConfig{{Address: addr}, {Address: addr}, {Address: addr}}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			n, err := New(tc.cfg, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			a := testAlert(1)
			b.ReportAllocs()
			for b.Loop() {
				n.Send(a)
			}
			b.StopTimer()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = n.Close(ctx)
		})
	}
}
