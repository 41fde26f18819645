package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// The running webhook binary refuses TLS below 1.2 and never speaks HTTP/2,
// whatever the client offers; after each attempt a valid review is still
// answered.
func TestWebhookTLSPolicy(t *testing.T) {
	requireWebhook(t)
	client := webhookClient(t)
	addr := strings.TrimPrefix(env.WebhookURL(), "https://")
	tests := []struct {
		name       string
		min, max   uint16
		nextProtos []string
		suites     []uint16
		wantErr    bool
		wantProto  string
	}{
		{name: "TLS 1.0 refused", min: tls.VersionTLS10, max: tls.VersionTLS10, wantErr: true},
		{name: "TLS 1.1 refused", min: tls.VersionTLS11, max: tls.VersionTLS11, wantErr: true},
		{name: "TLS 1.0 or 1.1 only refused", min: tls.VersionTLS10, max: tls.VersionTLS11, wantErr: true},
		{name: "TLS 1.2 accepted", min: tls.VersionTLS12, max: tls.VersionTLS12},
		{name: "TLS 1.3 accepted", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{name: "TLS 1.2 with only CBC and RSA key exchange refused", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}, wantErr: true},
		{name: "h2 and http/1.1 offered: http/1.1 chosen", min: tls.VersionTLS12, nextProtos: []string{"h2", "http/1.1"}, wantProto: "http/1.1"},
		{name: "h2 only offered: not negotiated", min: tls.VersionTLS12, nextProtos: []string{"h2"}, wantErr: true},
		{name: "no ALPN: HTTP/1.1", min: tls.VersionTLS12, wantProto: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := webhookTLS(t)
			cfg.MinVersion, cfg.MaxVersion, cfg.NextProtos, cfg.CipherSuites = tc.min, tc.max, tc.nextProtos, tc.suites
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
			switch {
			case tc.wantErr && err == nil:
				st := conn.ConnectionState()
				conn.Close()
				// Accepting the handshake but choosing no protocol is also a
				// refusal of h2; anything else is not.
				if len(tc.nextProtos) == 1 && tc.nextProtos[0] == "h2" && st.NegotiatedProtocol == "" {
					t.Logf("handshake completed without ALPN protocol (h2 not chosen)")
					break
				}
				t.Fatalf("handshake succeeded with version %s, protocol %q; want a refusal", tls.VersionName(st.Version), st.NegotiatedProtocol)
			case tc.wantErr:
				t.Logf("refused: %v", err)
			case err != nil:
				t.Fatalf("handshake failed: %v", err)
			default:
				st := conn.ConnectionState()
				conn.Close()
				if st.NegotiatedProtocol != tc.wantProto {
					t.Fatalf("negotiated %q, want %q", st.NegotiatedProtocol, tc.wantProto)
				}
				if st.Version < tls.VersionTLS12 {
					t.Fatalf("negotiated %s", tls.VersionName(st.Version))
				}
			}
			requireValidReviewsAnswered(t, client, tc.name)
		})
	}

	t.Run("HTTP/2 client falls back to HTTP/1.1", func(t *testing.T) {
		cfg := webhookTLS(t)
		cfg.NextProtos = nil
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		a, err := postReviewVia(&http.Client{Transport: tr, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if a != "HTTP/1.1" {
			t.Fatalf("answered over %s, want HTTP/1.1", a)
		}
	})
	t.Run("HTTP/2-only client refused", func(t *testing.T) {
		cfg := webhookTLS(t)
		cfg.NextProtos = nil
		tr := &http2.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		proto, err := postReviewVia(&http.Client{Transport: tr, Timeout: 10 * time.Second})
		if err == nil {
			t.Fatalf("an HTTP/2-only client got an answer over %s", proto)
		}
		t.Logf("refused: %v", err)
		requireValidReviewsAnswered(t, client, "an HTTP/2-only client")
	})
	t.Run("HTTP/2 prior knowledge over TLS refused", func(t *testing.T) {
		// The client preface sent without ALPN must not start an HTTP/2 session.
		cfg := webhookTLS(t)
		cfg.NextProtos = nil
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 4") && line != "" {
			t.Fatalf("the HTTP/2 preface was answered with %q, want an HTTP/1.1 4xx or a closed connection", line)
		}
		t.Logf("answered: %q", strings.TrimSpace(line))
		requireValidReviewsAnswered(t, client, "an HTTP/2 preface")
	})
}

func postReviewVia(c *http.Client) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sent, err := sendValidReview(ctx, c, "/mutate")
	return sent.proto, err
}

// No secret ever reaches a log line, at the highest verbosity: a webhook
// and a scaler run with -v=10 through reviews and cycles (the scaler with a
// bearer token for Prometheus, which a proxy checks it really sends), then
// every log file of the environment is searched for the token, for
// "Bearer <token>", for the private keys (the webhook's serving key, the
// development CA's key) and for the kubeconfig's client key and token.
func TestNoSecretInAnyLog(t *testing.T) {
	requireWebhook(t)
	ctx := testCtx(t)
	secrets := map[string]string{}

	// The webhook at -v=10, on a certificate of its own.
	certDir := filepath.Join(t.TempDir(), "certs")
	if _, _, err := devcerts.Generate(certDir, devcerts.ServingOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}); err != nil {
		t.Fatal(err)
	}
	port, healthPort := freePort(t), freePort(t)
	webhookLog := filepath.Join(env.LogDir, "webhook-v10.log")
	stop := startOwnWebhook(t, certDir, port, healthPort, webhookLog, "-v=10")
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	tr := &http.Transport{TLSClientConfig: tlsFor(t, certDir)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	token := randomToken()
	secrets["the bearer token"] = token
	for i := range 5 {
		for _, path := range []string{"/mutate", "/validate"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+path, strings.NewReader(string(validReviewJSON(newUID()))))
			req.Header.Set("Content-Type", "application/json")
			// A client that sends a token to the webhook must not see it logged.
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("review %d to the -v=10 webhook: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("review %d to the -v=10 webhook: %s", i, resp.Status)
			}
		}
	}
	// A bad one too: error paths log more.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/validate", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"`+token+`"`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	stop()

	// The scaler at -v=10 with a bearer token for Prometheus, through a proxy
	// that shows the token is sent.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, "e2e-secrets")
	autoscaledApp(t, ns)
	proxy := startPromProxy(t)
	// The proxy speaks plain http on loopback, so the token over it must be allowed.
	startScalerFor(t, "scaler-v10", "-v=10", "--prometheus-url="+proxy.URL, "--prometheus-bearer-token-file="+tokenFile,
		"--prometheus-allow-insecure-bearer-token")
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
	if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}
	waitReplicasAtLeast(t, ns, 4, faultReaction)
	if err := env.StopComponent(ctx, harness.Component("scaler-v10")); err != nil {
		t.Fatal(err)
	}
	sent := proxy.authorizations()
	if len(sent) == 0 || sent[0] != "Bearer "+token {
		t.Fatalf("the scaler did not send its bearer token to Prometheus (saw %d Authorization headers): the scan would prove nothing", len(sent))
	}

	// The keys on disk and the kubeconfig's credentials.
	for name, path := range map[string]string{
		"the -v=10 webhook's serving key":   filepath.Join(certDir, devcerts.KeyFile),
		"the harness webhook's serving key": filepath.Join(env.CertDir, devcerts.KeyFile),
		"the development CA's key":          filepath.Join(env.CertDir, devcerts.CAKeyFile),
	} {
		addPEMSecret(t, secrets, name, path)
	}
	kc, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for user, a := range kc.AuthInfos {
		if len(a.ClientKeyData) > 0 {
			addPEMBytes(secrets, "kubeconfig user "+user+" client key", a.ClientKeyData)
			secrets["kubeconfig user "+user+" client-key-data"] = base64.StdEncoding.EncodeToString(a.ClientKeyData)[:60]
		}
		if a.ClientKey != "" {
			path := a.ClientKey
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(env.Kubeconfig), path)
			}
			addPEMSecret(t, secrets, "kubeconfig user "+user+" client key file", path)
		}
		if a.Token != "" {
			secrets["kubeconfig user "+user+" token"] = a.Token
		}
		if a.Password != "" {
			secrets["kubeconfig user "+user+" password"] = a.Password
		}
	}

	// Proof the logs are the verbose ones, then the scan.
	requireLogMentions(t, webhookLog, "Answered admission request")
	requireLogMentions(t, filepath.Join(env.LogDir, "scaler-v10.log"), "Rescaled")
	files, lines := scanLogs(t, env.LogDir, secrets)
	t.Logf("scanned %d log files, %d lines, for %d secrets", files, lines, len(secrets))
}

// addPEMSecret adds every base64 line of the PEM file at path.
func addPEMSecret(t *testing.T, secrets map[string]string, name, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	addPEMBytes(secrets, name, b)
}

func addPEMBytes(secrets map[string]string, name string, pem []byte) {
	n := 0
	for _, line := range strings.Split(string(pem), "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			secrets[fmt.Sprintf("%s (line %d)", name, n)] = line
			n++
		}
	}
}

// scanLogs reads every file under dir and fails for each line holding a
// secret. It returns how many files and lines it read.
func scanLogs(t *testing.T, dir string, secrets map[string]string) (files, lines int) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("no secrets to look for")
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		files++
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for n := 1; sc.Scan(); n++ {
			lines++
			line := sc.Text()
			for name, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("%s:%d holds %s: %.300s", filepath.Base(path), n, name, line)
				}
			}
			if i := strings.Index(line, "Bearer "); i >= 0 && !strings.Contains(line[i:], "Bearer <masked>") {
				rest := strings.TrimSpace(line[i+len("Bearer "):])
				if len(rest) >= 8 && !strings.HasPrefix(rest, "<") {
					t.Errorf("%s:%d shows a bearer credential: %.300s", filepath.Base(path), n, line)
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if files == 0 {
		t.Fatalf("no log file in %s", dir)
	}
	return files, lines
}

func requireLogMentions(t *testing.T, path, s string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), s) {
		t.Fatalf("%s (%d bytes) never says %q: it is not the verbose log the scan needs", filepath.Base(path), len(b), s)
	}
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "memhpa-e2e-secret-" + hex.EncodeToString(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tlsFor(t *testing.T, certDir string) *tls.Config {
	t.Helper()
	ca, err := devcerts.LoadCAFiles(certDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
	cfg.RootCAs = poolOf(ca.Cert)
	return cfg
}

// startOwnWebhook runs the webhook binary (the one the harness uses) with its
// log in logPath, waits until it serves TLS and returns a function that stops
// it (also called when the test ends).
func startOwnWebhook(t *testing.T, certDir string, port, healthPort int, logPath string, extra ...string) func() {
	t.Helper()
	bin, err := harness.ProductBinary(testCtx(t), env.Root, "webhook")
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		fmt.Sprintf("--secure-port=%d", port), "--bind-address=127.0.0.1",
		"--tls-cert-file=" + filepath.Join(certDir, devcerts.CertFile),
		"--tls-private-key-file=" + filepath.Join(certDir, devcerts.KeyFile),
		fmt.Sprintf("--health-port=%d", healthPort), "--kubeconfig=" + env.Kubeconfig,
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	stop := func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	cfg := tlsFor(t, certDir)
	err = harness.Poll(testCtx(t), 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case <-done:
			return false, harness.Permanent(fmt.Errorf("webhook exited; log %s", logPath))
		default:
		}
		d := tls.Dialer{Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false, err
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		t.Fatalf("the -v=10 webhook did not serve: %v", err)
	}
	return stop
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
