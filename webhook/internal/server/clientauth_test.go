package server

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// clientCA is a CA of client certificates written where the server reads
// --client-ca-file.
type clientCA struct {
	t    testing.TB
	path string
}

// withClientCAFile sets ClientCAFile to a file that does not exist yet.
func withClientCAFile(c *clientCA) serverOption {
	return func(ts *testServer, cfg *Config) {
		*c = clientCA{t: ts.t, path: filepath.Join(ts.certDir, "client-ca.crt")}
		cfg.ClientCAFile = c.path
	}
}

// write makes a new CA, writes it as the whole bundle and returns it.
func (c *clientCA) write(name string) *devcerts.CA {
	c.t.Helper()
	ca, err := devcerts.NewCA(name, 0, time.Time{})
	if err != nil {
		c.t.Fatal(err)
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, ca.CertPEM, 0o600); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		c.t.Fatal(err)
	}
	return ca
}

// clientWith is an HTTPS client of ts that presents a certificate of ca (none
// when ca is nil), on a connection of its own.
func (ts *testServer) clientWith(ca *devcerts.CA) *http.Client {
	ts.t.Helper()
	cfg := ts.clientTLS.Clone()
	if ca != nil {
		kp, err := ca.IssueClient("kube-apiserver", 0)
		if err != nil {
			ts.t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			ts.t.Fatal(err)
		}
		// Sent whatever CAs the server names: a client of crypto/tls would
		// otherwise keep a certificate of another CA to itself.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	transport := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	ts.t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Timeout: testDeadline, Transport: transport}
}

// reviewWith posts a review through c and returns its status, or the error.
func (ts *testServer) reviewWith(c *http.Client) (int, error) {
	resp, err := c.Post("https://"+ts.secure+"/validate", "application/json", bytes.NewReader(reviewBody(ts.t, "client-auth", admissionv1.Create)))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// With ClientCAFile the secure port serves only clients whose certificate
// that bundle signed; a new bundle on disk is used without a restart, and
// until a bundle is loaded the server is not ready and serves no one.
func TestClientCertificatesAreRequiredWithAClientCA(t *testing.T) {
	var c clientCA
	ts := startServer(t, allowWithPatch, allowWithPatch, withClientCAFile(&c))
	waitFor(t, "the serving certificate", func() (bool, string) {
		code, body := ts.get("/healthz")
		return code == http.StatusOK, body
	})
	other, err := devcerts.NewCA("a stranger's CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	// No bundle yet: not ready, and even a client with a certificate is refused.
	if code, body := ts.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "client CA") {
		t.Errorf("/readyz without the client CA bundle: %d %q, want 503 naming it", code, body)
	}
	if status, err := ts.reviewWith(ts.clientWith(other)); err == nil {
		t.Errorf("before the client CA bundle is loaded, a client was answered %d, want a refused handshake", status)
	}

	first := c.write("apiserver client CA")
	waitFor(t, "the client CA bundle", func() (bool, string) {
		code, body := ts.get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	tests := []struct {
		name   string
		ca     *devcerts.CA
		served bool
	}{
		{name: "no client certificate", ca: nil},
		{name: "a certificate of another CA", ca: other},
		{name: "a certificate of the client CA", ca: first, served: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := ts.reviewWith(ts.clientWith(tt.ca))
			switch {
			case tt.served && (err != nil || status != http.StatusOK):
				t.Fatalf("answered %d, %v; want 200", status, err)
			case !tt.served && err == nil:
				t.Fatalf("answered %d, want a refused handshake", status)
			case !tt.served:
				t.Logf("refused: %v", err)
			}
		})
	}

	// A new bundle: its clients are served, the old CA's are not.
	second := c.write("apiserver client CA, rotated")
	waitFor(t, "the rotated client CA bundle", func() (bool, string) {
		status, err := ts.reviewWith(ts.clientWith(second))
		return err == nil && status == http.StatusOK, fmt.Sprint(status, err)
	})
	if status, err := ts.reviewWith(ts.clientWith(first)); err == nil {
		t.Errorf("a client of the replaced CA was answered %d, want a refused handshake", status)
	}
}
