package devcerts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssuedCertificateVerifiesForItsNames(t *testing.T) {
	ca, err := NewCA("test CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(ServingOptions{
		DNSNames: []string{"localhost", "memhpa-webhook.memhpa.svc"},
		IPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM did not parse")
	}
	otherCA, err := NewCA("another CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(otherCA.CertPEM)

	tests := []struct {
		name    string
		host    string
		roots   *x509.CertPool
		wantErr any // nil, or a pointer to the x509 error type Verify must return
	}{
		{name: "first DNS name", host: "localhost", roots: roots},
		{name: "service DNS name", host: "memhpa-webhook.memhpa.svc", roots: roots},
		{name: "IPv4", host: "127.0.0.1", roots: roots},
		{name: "IPv6", host: "::1", roots: roots},
		{name: "name not in the certificate", host: "example.com", roots: roots, wantErr: new(x509.HostnameError)},
		{name: "IP not in the certificate", host: "127.0.0.2", roots: roots, wantErr: new(x509.HostnameError)},
		{name: "another CA", host: "localhost", roots: otherRoots, wantErr: new(x509.UnknownAuthorityError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kp.Cert.Verify(x509.VerifyOptions{
				DNSName:   tt.host,
				Roots:     tt.roots,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Verify(%s) = %v, want success", tt.host, err)
			}
			if tt.wantErr != nil && (err == nil || !errors.As(err, tt.wantErr)) {
				t.Fatalf("Verify(%s) = %v, want an error of type %T", tt.host, err, tt.wantErr)
			}
		})
	}
}

func TestIssueRejectsCertificateWithoutNames(t *testing.T) {
	ca, err := NewCA("test CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(ServingOptions{}); err == nil {
		t.Fatal("Issue without names succeeded, want an error")
	}
}

func TestExpiredCertificateDoesNotVerify(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour)
	ca, err := NewCA("test CA", 0, past)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(ServingOptions{DNSNames: []string{"localhost"}, Validity: time.Hour, Now: past})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	_, err = kp.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots})
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("Verify of an expired certificate = %v, want an expiry error", err)
	}
}

func TestGenerateWritesLoadablePEMAndReusesTheCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	opts := ServingOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}

	ca1, kp1, err := Generate(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatalf("written key pair does not load: %v", err)
	}
	if leaf, _ := x509.ParseCertificate(pair.Certificate[0]); leaf.SerialNumber.Cmp(kp1.Cert.SerialNumber) != 0 {
		t.Fatalf("tls.crt serial %v, want %v", leaf.SerialNumber, kp1.Cert.SerialNumber)
	}
	for name, wantMode := range map[string]os.FileMode{CAKeyFile: 0o600, KeyFile: 0o600, CACertFile: 0o644, CertFile: 0o644} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != wantMode {
			t.Errorf("%s mode = %v, want %v", name, got, wantMode)
		}
	}

	// A second run rotates the serving certificate under the same CA.
	ca2, kp2, err := Generate(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !ca2.Cert.Equal(ca1.Cert) {
		t.Fatal("second Generate made a new CA, want the one on disk reused")
	}
	if kp2.Cert.SerialNumber.Cmp(kp1.Cert.SerialNumber) == 0 {
		t.Fatal("second Generate kept the serial number, want a new certificate")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca1.CertPEM)
	if _, err := kp2.Cert.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots}); err != nil {
		t.Fatalf("rotated certificate does not verify against the first CA: %v", err)
	}
}

func TestLoadCARejectsMismatchedKey(t *testing.T) {
	ca1, err := NewCA("one", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := NewCA("two", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(ca1.CertPEM, ca2.KeyPEM); err == nil {
		t.Fatal("LoadCA with another CA's key succeeded, want an error")
	}
}

// A client certificate verifies for client authentication against its CA,
// and for nothing else.
func TestIssuedClientCertificateVerifiesForClientAuth(t *testing.T) {
	ca, err := NewCA("test CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueClient("kube-apiserver", 0)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name    string
		usage   x509.ExtKeyUsage
		wantErr bool
	}{
		{name: "client auth", usage: x509.ExtKeyUsageClientAuth},
		{name: "not for serving", usage: x509.ExtKeyUsageServerAuth, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err != nil) != tt.wantErr {
				t.Errorf("Verify = %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
	if kp.Cert.Subject.CommonName != "kube-apiserver" {
		t.Errorf("common name %q", kp.Cert.Subject.CommonName)
	}
	if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Errorf("key pair does not load: %v", err)
	}
	if _, err := ca.IssueClient("", 0); err == nil {
		t.Error("IssueClient without a name succeeded")
	}
}
