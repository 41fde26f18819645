//go:build unix

package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// fifoFiles replaces the serving certificate and key files by named pipes,
// so that every re-read of them waits for writes of the test: the test decides
// the outcome of each re-read exactly, with no timing involved. Each re-read
// reads both files one after the other; feeding them in the order in which
// the reloader reads them means a write can only reach the re-read it is meant
// for (the previous reader of a pipe has closed it before the next file of
// the same re-read is opened).
type fifoFiles struct {
	ts       *testServer
	certPath string
	keyPath  string
	cert     []byte // the valid certificate
	key      []byte
	// order is the paths in the order the reloader reads them, learnt at the
	// first re-read.
	order []string
}

// withFIFOCert makes the certificate and key files named pipes and keeps a
// fresh serving certificate of the test CA in *ff.
func withFIFOCert(ff *fifoFiles) serverOption {
	return func(ts *testServer, cfg *Config) {
		kp, err := ts.ca.Issue(devcerts.ServingOptions{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		if err != nil {
			ts.t.Fatal(err)
		}
		for _, p := range []string{cfg.CertFile, cfg.KeyFile} {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				ts.t.Fatal(err)
			}
		}
		*ff = fifoFiles{ts: ts, certPath: cfg.CertFile, keyPath: cfg.KeyFile, cert: kp.CertPEM, key: kp.KeyPEM}
		ts.ca = nil // startServer writes no regular certificate files
	}
}

// errServerGone is returned by reread when the server stopped instead of
// reading the certificate again.
var errServerGone = errors.New("the server stopped instead of re-reading the certificate")

// reread answers the next re-read with cert as the certificate (and the
// valid key). It fails when no re-read comes within testDeadline or the
// server stops first.
func (ff *fifoFiles) reread(cert []byte) error {
	content := map[string][]byte{ff.certPath: cert, ff.keyPath: ff.key}
	if ff.order == nil {
		first, err := ff.write(content, ff.certPath, ff.keyPath)
		if err != nil {
			return err
		}
		second := ff.keyPath
		if first == ff.keyPath {
			second = ff.certPath
		}
		ff.order = []string{first, second}
		_, err = ff.write(content, second)
		return err
	}
	for _, p := range ff.order {
		if _, err := ff.write(content, p); err != nil {
			return err
		}
	}
	return nil
}

// write waits until one of paths has a reader, writes its content to it and
// closes it (the reader then sees the end of the file); it returns that path.
func (ff *fifoFiles) write(content map[string][]byte, paths ...string) (string, error) {
	deadline := time.Now().Add(testDeadline)
	for time.Now().Before(deadline) {
		select {
		case err := <-ff.ts.done:
			ff.ts.done <- err // for the cleanup
			return "", fmt.Errorf("%w: Serve returned %v", errServerGone, err)
		default:
		}
		for _, p := range paths {
			// A non-blocking open for writing succeeds only once a reader waits.
			f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if errors.Is(err, syscall.ENXIO) {
				continue
			}
			if err != nil {
				return "", err
			}
			_, werr := f.Write(content[p])
			return p, errors.Join(werr, f.Close())
		}
		time.Sleep(2 * time.Millisecond) // poll for the reader
	}
	return "", fmt.Errorf("no re-read of the certificate within %v", testDeadline)
}

// unblock stops the server and answers re-reads until it has stopped, so
// that a reader blocked on a pipe cannot keep Serve from returning. A write
// that fails (the reader of a pipe closed it between our open and our
// write: EPIPE) is no reason to stop answering: the next re-read would then
// block on its open forever.
func (ff *fifoFiles) unblock() {
	ff.ts.cancel()
	deadline := time.Now().Add(testDeadline)
	for time.Now().Before(deadline) {
		_, err := ff.write(map[string][]byte{ff.certPath: ff.cert, ff.keyPath: ff.key}, ff.certPath, ff.keyPath)
		if errors.Is(err, errServerGone) {
			return
		}
	}
}

// startWithFIFOCert starts a server that reads its certificate from named
// pipes (re-reading every 10ms, at most maxFailures failures in a row) and
// answers its first read with the valid certificate.
func startWithFIFOCert(t *testing.T, maxFailures int) (*testServer, *fifoFiles) {
	t.Helper()
	ff := &fifoFiles{}
	ts := startServer(t, allowWithPatch, allowWithPatch, withFIFOCert(ff), func(_ *testServer, cfg *Config) {
		cfg.CertMaxFailures, cfg.CertReloadInterval = maxFailures, 10*time.Millisecond
	})
	t.Cleanup(ff.unblock)
	if err := ff.reread(ff.cert); err != nil {
		t.Fatalf("first read: %v", err)
	}
	ts.waitServing()
	return ts, ff
}

// The reloader's failure budget is a run of consecutive failed re-reads, not
// a total over the life of the process: N-1 failures, a success and N-1
// failures again leave the webhook serving; N in a row end Serve with an
// error (so that the kubelet restarts the container).
func TestCertificateReloadFailuresMustBeConsecutive(t *testing.T) {
	const maxFailures = 3
	garbage := []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")

	t.Run("failures separated by a success", func(t *testing.T) {
		ts, ff := startWithFIFOCert(t, maxFailures)
		for run := 1; run <= 2; run++ {
			for i := 1; i < maxFailures; i++ {
				if err := ff.reread(garbage); err != nil {
					t.Fatalf("run %d, failed re-read %d of %d allowed in a row: %v", run, i, maxFailures-1, err)
				}
			}
			if err := ff.reread(ff.cert); err != nil {
				t.Fatalf("successful re-read after run %d of %d failures: %v", run, maxFailures-1, err)
			}
		}
		resp, body, err := ts.post("/validate", "application/json", bytes.NewReader(reviewBody(t, "after-failures", admissionv1.Create)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("review after the failures: %v %v %q", err, resp, body)
		}
	})

	t.Run("failures in a row", func(t *testing.T) {
		ts, ff := startWithFIFOCert(t, maxFailures)
		for i := 1; i <= maxFailures; i++ {
			if err := ff.reread(garbage); err != nil {
				t.Fatalf("failed re-read %d: %v", i, err)
			}
		}
		select {
		case err := <-ts.done:
			ts.done <- err
			if err == nil {
				t.Fatal("Serve returned nil after the certificate could not be re-read, want an error")
			}
			t.Logf("Serve returned: %v", err)
		case <-time.After(testDeadline):
			t.Fatalf("still serving after %d failed re-reads in a row", maxFailures)
		}
	})
}
