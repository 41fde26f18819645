// Package devcerts makes development certificates for the webhook: a
// self-signed certificate authority, serving certificates it signs for given
// DNS names and IP addresses, and client certificates, written as PEM files.
//
// It is for tests and the local control plane only. In a cluster, cert-manager
// issues the serving certificate (see charts/memhpa). Keys are ECDSA P-256 and
// are written with mode 0600; never commit them.
package devcerts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names written by WriteFiles, the same keys as a kubernetes.io/tls Secret
// made by cert-manager, so a directory of them looks like a mounted Secret.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "tls.crt"
	KeyFile    = "tls.key"
)

// Default lifetimes: long enough for a working day of development and short
// enough that a leaked development key is soon useless.
const (
	DefaultCAValidity      = 365 * 24 * time.Hour
	DefaultServingValidity = 30 * 24 * time.Hour
)

// clockSkew backdates NotBefore so a peer whose clock is slightly behind still
// accepts a certificate made a moment ago.
const clockSkew = 5 * time.Minute

// CA is a certificate authority that can sign serving certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is Cert in PEM form, ready for a webhook configuration's caBundle.
	CertPEM []byte
	// KeyPEM is Key in PEM form (PKCS#8).
	KeyPEM []byte
}

// ServingOptions says what a serving certificate is for.
type ServingOptions struct {
	// DNSNames and IPs become the certificate's subject alternative names;
	// at least one of them is required.
	DNSNames []string
	IPs      []net.IP
	// Validity defaults to DefaultServingValidity.
	Validity time.Duration
	// Now is the issue time; zero means time.Now().
	Now time.Time
}

// KeyPair is a signed serving certificate and its private key.
type KeyPair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA makes a self-signed CA named commonName, valid for validity
// (DefaultCAValidity when zero) from now.
func NewCA(commonName string, validity time.Duration, now time.Time) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("make CA: common name must not be empty")
	}
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if now.IsZero() {
		now = time.Now()
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"memhpa development"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	kp, err := sign(tmpl, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("make CA: %w", err)
	}
	return LoadCA(kp.CertPEM, kp.KeyPEM)
}

// LoadCA reads a CA from PEM, as written by WriteFiles, so that serving
// certificates issued later still verify against a caBundle already installed.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("load CA: certificate is not a CA")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("load CA: private key does not match the certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// LoadCAFiles reads ca.crt and ca.key from dir.
func LoadCAFiles(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	return LoadCA(certPEM, keyPEM)
}

// Issue signs a new serving certificate with a fresh key. Every call gives a
// new serial number, so a rotation is visible to a client.
func (ca *CA) Issue(opts ServingOptions) (*KeyPair, error) {
	if len(opts.DNSNames) == 0 && len(opts.IPs) == 0 {
		return nil, errors.New("issue serving certificate: at least one DNS name or IP address is required")
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultServingValidity
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	commonName := "memhpa-webhook"
	if len(opts.DNSNames) > 0 {
		commonName = opts.DNSNames[0]
	}
	tmpl := leaf(commonName, now, validity, x509.ExtKeyUsageServerAuth)
	tmpl.DNSNames, tmpl.IPAddresses = opts.DNSNames, opts.IPs
	kp, err := sign(tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	return kp, nil
}

// IssueClient signs a new client certificate for commonName with a fresh
// key, valid for validity (DefaultServingValidity when zero) from now: what an
// apiserver presents to a webhook that verifies its callers (the webhook's
// --client-ca-file).
func (ca *CA) IssueClient(commonName string, validity time.Duration) (*KeyPair, error) {
	if commonName == "" {
		return nil, errors.New("issue client certificate: common name must not be empty")
	}
	if validity == 0 {
		validity = DefaultServingValidity
	}
	kp, err := sign(leaf(commonName, time.Now(), validity, x509.ExtKeyUsageClientAuth), ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	return kp, nil
}

// leaf is the template of a certificate a CA signs for commonName and usage,
// valid for validity from now.
func leaf(commonName string, now time.Time, validity time.Duration, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"memhpa development"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
	}
}

// sign gives tmpl a fresh key and serial number and signs it with parentKey,
// or self-signs it when parent is nil.
func sign(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// Generate writes a serving certificate for opts into dir, signed by the CA
// already in dir (ca.crt and ca.key) or, when there is none, by a new one, so
// running it again rotates the serving certificate and keeps the caBundle
// valid. It returns the CA and the new key pair.
func Generate(dir string, opts ServingOptions) (*CA, *KeyPair, error) {
	ca, err := LoadCAFiles(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ca, err = NewCA("memhpa development CA", DefaultCAValidity, opts.Now)
		if err != nil {
			return nil, nil, err
		}
	case err != nil:
		return nil, nil, err
	}
	kp, err := ca.Issue(opts)
	if err != nil {
		return nil, nil, err
	}
	if err := WriteFiles(dir, ca, kp); err != nil {
		return nil, nil, err
	}
	return ca, kp, nil
}

// WriteFiles writes ca.crt, ca.key, tls.crt and tls.key into dir (created
// when missing). Each file is written to a temporary name and renamed into
// place, so a reader never sees a half-written file; the key is written before
// the certificate, and a reader that catches the pair in between sees a
// mismatch it must retry (the webhook's reloader reads again after its interval).
func WriteFiles(dir string, ca *CA, kp *KeyPair) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write certificates: %w", err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CACertFile, ca.CertPEM, 0o644},
		{CAKeyFile, ca.KeyPEM, 0o600},
		{KeyFile, kp.KeyPEM, 0o600},
		{CertFile, kp.CertPEM, 0o644},
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("write certificates: %w", err)
		}
	}
	return nil
}

// WriteKeyPair replaces only tls.key and tls.crt in dir, the way a rotation
// does.
func WriteKeyPair(dir string, kp *KeyPair) error {
	if err := writeAtomic(filepath.Join(dir, KeyFile), kp.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("write key pair: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, CertFile), kp.CertPEM, 0o644); err != nil {
		return fmt.Errorf("write key pair: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func randomSerial() (*big.Int, error) {
	// RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
