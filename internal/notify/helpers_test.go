package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/units"
)

// deadAddr returns a loopback TCP address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// testAlert returns a filled alert; n makes its ID and message unique.
func testAlert(n int) *alert.Alert {
	t := time.Date(2026, 11, 27, 23, 39, 14, 123456000, time.UTC)
	return &alert.Alert{
		ID:        alert.MakeID("auth.bruteforce", "source.ip=203.0.113.7", uint64(n)),
		RuleID:    "auth.bruteforce",
		RuleTitle: "Brute force on mail logins",
		Threat:    "brute-force",
		Level:     alert.LevelHigh,
		Type:      "threshold",
		First:     t.Add(-5 * time.Minute),
		Last:      t,
		TS:        t,
		SrcIP:     "203.0.113.7",
		SrcPort:   51234,
		DstIP:     "198.51.100.10",
		DstPort:   443,
		User:      "alice@example.com",
		DeviceID:  "android-1234",
		Group:     "source.ip=203.0.113.7",
		Count:     42 + n,
		Message:   "42 failed logins from 203.0.113.7",
		Payloads:  []string{`{"status":401,"user":"alice@example.com"}`, `second "line" with ]`},
		Fields:    map[string]string{"distinct_users": "3", "country": "NL"},
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statusOf returns the status of the named channel.
func statusOf(t testing.TB, n *Notifier, name string) ChannelStatus {
	t.Helper()
	for _, s := range n.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no channel %q in %+v", name, n.Status())
	return ChannelStatus{}
}

// metricValue reads a vigil_notify_* sample of one channel from reg.
func metricValue(t testing.TB, reg *prometheus.Registry, name, channel string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "channel" && l.GetValue() == channel {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{channel=%q} not found", name, channel)
	return 0
}

// fastRetry retries quickly in tests.
func fastRetry(queue, attempts int) Delivery {
	return Delivery{QueueSize: queue, MaxAttempts: attempts, Backoff: units.Duration(time.Millisecond), MaxBackoff: units.Duration(10 * time.Millisecond)}
}

// testPKI is a CA with a server certificate for 127.0.0.1 and localhost
// and a client certificate, written as PEM files into a temp folder.
type testPKI struct {
	dir                  string
	caFile               string
	certFile, keyFile    string // server
	clientCert, clientKy string
	pool                 *x509.CertPool
	server               tls.Certificate
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir}
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, name string) (string, string, tls.Certificate) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cf := writePEM(t, dir, name+".pem", "CERTIFICATE", der)
		kf := writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		return cf, kf, pair
	}
	p.certFile, p.keyFile, p.server = issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, "server")
	p.clientCert, p.clientKy, _ = issue(3, "vigil", x509.ExtKeyUsageClientAuth, "client")
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// newServerTLS is the server side for the test PKI, optionally requiring
// a client certificate.
func newServerTLS(p *testPKI, requireClient bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if requireClient {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.pool
	}
	return cfg
}

// newNotifier starts a notifier for cfg that the test's cleanup closes,
// waiting up to closeWait for its queues to drain.
func newNotifier(t *testing.T, cfg Config, reg prometheus.Registerer, closeWait time.Duration) *Notifier {
	t.Helper()
	n, err := New(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}
