package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSInput configures a syslog input with a TLS listener (RFC 5425)
// from a config file and sends octet-counted RFC 5424 over TLS.
func TestTLSInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	plainPort, tlsPort := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`inputs:
  syslog:
    - name: secure
      addr: "127.0.0.1:%d"
      tls:
        addr: "127.0.0.1:%d"
        cert_file: %q
        key_file: %q
journal:
  fsync: always
`, plainPort, tlsPort, certFile, keyFile)
	v := startVigil(t, vigilOpts{syslogPort: -1, config: cfg})
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)

	// A client that does not trust the certificate is refused.
	if c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Error("TLS handshake with an untrusted certificate succeeded")
	}

	tok := token("tls")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", tlsAddr,
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", tlsAddr, err)
	}
	msgs := []string{
		fmt.Sprintf("<165>1 %s tlshost tlsapp 99 ID1 [origin@32473 ip=\"192.0.2.1\" sw=\"e2e\"] first over tls %s",
			time.Now().UTC().Format(time.RFC3339Nano), tok),
		// A message containing a newline: octet counting carries it intact.
		fmt.Sprintf("<165>1 %s tlshost tlsapp 99 ID2 - second over tls %s\nwith a second line",
			time.Now().UTC().Format(time.RFC3339Nano), tok),
	}
	for _, m := range msgs {
		if _, err := conn.Write(octetCounted(m)); err != nil {
			t.Fatalf("TLS write: %v", err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("TLS close: %v", err)
	}

	ev := v.waitOne(t, "first "+tok)
	checkCommon(t, ev, "secure")
	checkFormat(t, ev, "RFC5424")
	checkFields(t, ev, map[string]string{
		"_msg":                          "first over tls " + tok,
		"host.hostname":                 "tlshost",
		"log.syslog.appname":            "tlsapp",
		"log.syslog.procid":             "99",
		"log.syslog.msgid":              "ID1",
		"log.syslog.priority":           "165",
		"log.syslog.facility.name":      "local4",
		"log.syslog.severity.name":      "notice",
		"log.syslog.sd.origin@32473.ip": "192.0.2.1",
		"log.syslog.sd.origin@32473.sw": "e2e",
	})
	ev = v.waitOne(t, "second "+tok)
	checkFields(t, ev, map[string]string{"_msg": "second over tls " + tok + "\nwith a second line", "log.syslog.msgid": "ID2"})

	// The plain listener of the same input still works.
	plain := token("plain")
	sendTCP(t, fmt.Sprintf("127.0.0.1:%d", plainPort), []byte(rfc5424(14, "h", "plainapp", plain)+"\n"))
	checkCommon(t, v.waitOne(t, plain), "secure")

	m := v.metrics(t)
	if got := m[`vigil_input_messages_total{input="secure",transport="tls"}`]; got != 2 {
		t.Errorf(`vigil_input_messages_total{input="secure",transport="tls"} = %v, want 2`, got)
	}
	ins, _ := v.status(t)["inputs"].([]any)
	if len(ins) != 1 {
		t.Errorf("/api/v1/status inputs = %v, want one", ins)
	} else if in, _ := ins[0].(map[string]any); in["name"] != "secure" || in["tls"] != tlsAddr {
		t.Errorf("/api/v1/status input = %v, want name secure, tls %s", in, tlsAddr)
	}
	if code := v.stop(t); code != 0 {
		t.Errorf("vigil exit code after SIGTERM = %d, want 0", code)
	}
}

// selfSignedCert writes an ECDSA certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vigil e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
