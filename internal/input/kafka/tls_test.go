package kafka

import (
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
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 to dir and
// returns it as a server config and the path of its PEM file.
func selfSigned(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"kafka.test"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, p
}

// TestTLS consumes from a TLS broker verified with ca_file, and checks
// that a wrong server_name is refused and reported in Status.
func TestTLS(t *testing.T) {
	srv, ca := selfSigned(t, t.TempDir())
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(srv), kfake.SeedTopics(1, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	tests := []struct {
		name, serverName string
		ok               bool
	}{
		{"ip san", "", true},
		{"server name", "kafka.test", true},
		{"wrong name", "other.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &memAppender{}
			in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}, Group: tt.name,
				TLS: TLSConfig{Enabled: true, CAFile: ca, ServerName: tt.serverName}}, app, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			stop := runInput(t, in)
			if tt.ok {
				// Produce through the input's own settings once it is up.
				cl := tlsProducer(t, addr, ca)
				defer cl.Close()
				waitFor(t, "record", func() bool { return app.len() >= 1 })
			} else {
				waitFor(t, "a TLS error", func() bool {
					return strings.Contains(in.Status().LastError, "certificate")
				})
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// tlsProducer produces one record over TLS.
func tlsProducer(t *testing.T, addr, ca string) *kgo.Client {
	t.Helper()
	tc, err := tlsConfig(TLSConfig{Enabled: true, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "logs", Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return cl
}
