package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2/ktesting"

	"github.com/memhpa/memhpa/webhook/internal/admission"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// testDeadline bounds every poll of these tests.
const testDeadline = 10 * time.Second

// reviewerFunc is a Reviewer fake: the server tests must not depend on the
// admission rules.
type reviewerFunc func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

func (f reviewerFunc) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return f(ctx, req)
}

var (
	allowWithPatch = reviewerFunc(func(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		pt := admissionv1.PatchTypeJSONPatch
		return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true, PatchType: &pt,
			Patch: []byte(`[{"op":"add","path":"/spec/minReplicas","value":1}]`)}
	})
	denyInvalid = reviewerFunc(func(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		status := apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling.memhpa.io", Kind: "MemHpa"}, req.Name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "maxReplicas"), 0, "must be greater than or equal to 1")}).Status()
		return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: false, Result: &status}
	})
)

// testServer is a Server on 127.0.0.1 with a development CA.
type testServer struct {
	t         testing.TB
	certDir   string
	ca        *devcerts.CA
	secure    string // host:port of the TLS port
	health    string // host:port of the probe port
	cancel    context.CancelFunc
	done      chan error
	clientTLS *tls.Config
	https     *http.Client
	// readyChecks are given to Server.ReadyWhen.
	readyChecks []readyCheck
}

type serverOption func(*testServer, *Config)

// readyWhen adds a readiness condition (Server.ReadyWhen).
func readyWhen(why string, ready func() bool) serverOption {
	return func(ts *testServer, _ *Config) {
		ts.readyChecks = append(ts.readyChecks, readyCheck{why: why, ready: ready})
	}
}

// withoutCertificate starts the server before any certificate is on disk.
func withoutCertificate() serverOption {
	return func(ts *testServer, _ *Config) { ts.ca = nil }
}

func startServer(t testing.TB, mutator, validator admission.Reviewer, opts ...serverOption) *testServer {
	t.Helper()
	ca, err := devcerts.NewCA("server test CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, certDir: t.TempDir(), ca: ca, done: make(chan error, 1)}
	cfg := DefaultConfig()
	cfg.CertFile = filepath.Join(ts.certDir, devcerts.CertFile)
	cfg.KeyFile = filepath.Join(ts.certDir, devcerts.KeyFile)
	cfg.CertReloadInterval = 50 * time.Millisecond
	cfg.CertMaxFailures = 1 << 20 // a test that starts without files must not die of them
	cfg.ShutdownTimeout = 5 * time.Second
	for _, o := range opts {
		o(ts, &cfg)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	ts.clientTLS = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	transport := &http.Transport{TLSClientConfig: ts.clientTLS.Clone()}
	ts.https = &http.Client{Timeout: testDeadline, Transport: transport}
	t.Cleanup(transport.CloseIdleConnections)
	if ts.ca != nil {
		ts.rotate()
	}
	ts.ca = ca

	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.secure, ts.health = secure.Addr().String(), health.Addr().String()
	_, ctx := ktesting.NewTestContext(t)
	ctx, ts.cancel = context.WithCancel(ctx)
	s := New(cfg, mutator, validator)
	for _, c := range ts.readyChecks {
		s.ReadyWhen(c.why, c.ready)
	}
	go func() { ts.done <- s.Serve(ctx, secure, health) }()
	t.Cleanup(func() {
		ts.cancel()
		select {
		case <-ts.done:
		case <-time.After(testDeadline):
			t.Error("server did not stop")
		}
	})
	return ts
}

// rotate issues a new serving certificate for 127.0.0.1 and writes it over the
// served one; it returns the new serial number.
func (ts *testServer) rotate() *big.Int {
	ts.t.Helper()
	kp, err := ts.ca.Issue(devcerts.ServingOptions{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := devcerts.WriteKeyPair(ts.certDir, kp); err != nil {
		ts.t.Fatal(err)
	}
	return kp.Cert.SerialNumber
}

// client is the HTTPS client of the test server: it trusts the test CA and
// speaks HTTP/1.1.
func (ts *testServer) client() *http.Client {
	return ts.https
}

// servedSerial completes a TLS handshake and returns the serial number of the
// certificate the server presented.
func (ts *testServer) servedSerial() (*big.Int, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", ts.secure, ts.clientTLS)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// waitFor polls cond every 20ms until it holds or testDeadline passes.
func waitFor(t testing.TB, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < testDeadline {
		var ok bool
		if ok, last = cond(); ok {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last: %s", testDeadline, what, last)
	return 0
}

// waitServing waits until the TLS port completes a handshake.
func (ts *testServer) waitServing() {
	ts.t.Helper()
	waitFor(ts.t, "a TLS handshake", func() (bool, string) {
		_, err := ts.servedSerial()
		return err == nil, fmt.Sprint(err)
	})
}

func (ts *testServer) get(path string) (int, string) {
	ts.t.Helper()
	resp, err := http.Get("http://" + ts.health + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func reviewBody(t testing.TB, uid types.UID, op admissionv1.Operation) []byte {
	t.Helper()
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Group: "autoscaling.memhpa.io", Version: "v1alpha1", Kind: "MemHpa"},
			Resource:  metav1.GroupVersionResource{Group: "autoscaling.memhpa.io", Version: "v1alpha1", Resource: "memhpas"},
			Name:      "web",
			Namespace: "default",
			Operation: op,
			Object:    runtime.RawExtension{Raw: []byte(`{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"web"}}`)},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (ts *testServer) post(path, contentType string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "https://"+ts.secure+path, body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := ts.client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp, out, err
}

// /validate hands its Reviewer the request's MemHpas decoded in the review's
// own pass, where /mutate keeps the object's bytes, against which the
// defaulter computes its patch.
func TestValidateDecodesTheObjectsWithTheReview(t *testing.T) {
	var got sync.Map // path → *admissionv1.AdmissionRequest
	record := func(path string) admission.Reviewer {
		return reviewerFunc(func(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
			got.Store(path, req)
			return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
		})
	}
	handler := New(DefaultConfig(), record("/mutate"), record("/validate")).secure.Handler
	body := bytes.Replace(reviewBody(t, "u1", admissionv1.Update), []byte(`"oldObject":null`),
		[]byte(`"oldObject":{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"web","resourceVersion":"7"}}`), 1)
	if !bytes.Contains(body, []byte(`"resourceVersion":"7"`)) {
		t.Fatalf("no old object in %s", body)
	}
	for _, path := range []string{"/mutate", "/validate"} {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
		}
	}
	mutate, _ := got.Load("/mutate")
	if r := mutate.(*admissionv1.AdmissionRequest); len(r.Object.Raw) == 0 || len(r.OldObject.Raw) == 0 {
		t.Errorf("/mutate: objects not raw: %+v, %+v", r.Object, r.OldObject)
	}
	validate, _ := got.Load("/validate")
	r := validate.(*admissionv1.AdmissionRequest)
	for what, ext := range map[string]runtime.RawExtension{"object": r.Object, "oldObject": r.OldObject} {
		if m, ok := ext.Object.(*v1alpha1.MemHpa); !ok || m.Name != "web" || len(ext.Raw) > 0 {
			t.Errorf("/validate: %s = {Raw: %q, Object: %#v}, want a decoded MemHpa web and no bytes", what, ext.Raw, ext.Object)
		}
	}
	if m, _ := r.OldObject.Object.(*v1alpha1.MemHpa); m != nil && m.ResourceVersion != "7" {
		t.Errorf("/validate: oldObject resourceVersion %q, want 7", m.ResourceVersion)
	}
}

func TestReviewAnswersWithTheRequestUID(t *testing.T) {
	ts := startServer(t, allowWithPatch, denyInvalid)
	ts.waitServing()

	tests := []struct {
		name        string
		path        string
		op          admissionv1.Operation
		wantAllowed bool
		wantReason  metav1.StatusReason
		wantPatch   bool
		wantMetric  string
	}{
		{name: "mutate allows with a patch", path: "/mutate", op: admissionv1.Create, wantAllowed: true, wantPatch: true,
			wantMetric: `memhpa_webhook_admission_requests_total{operation="CREATE",reason="",result="allowed",webhook="mutate"} 1`},
		{name: "validate denies as Invalid", path: "/validate", op: admissionv1.Update, wantReason: metav1.StatusReasonInvalid,
			wantMetric: `memhpa_webhook_admission_requests_total{operation="UPDATE",reason="Invalid",result="denied",webhook="validate"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := types.UID("uid-" + strings.ReplaceAll(tt.name, " ", "-"))
			resp, body, err := ts.post(tt.path, "application/json", bytes.NewReader(reviewBody(t, uid, tt.op)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %q", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &review); err != nil {
				t.Fatalf("answer is not JSON: %v: %q", err, body)
			}
			if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
				t.Errorf("answer is %s %s, want admission.k8s.io/v1 AdmissionReview", review.APIVersion, review.Kind)
			}
			if review.Response == nil {
				t.Fatalf("answer has no response: %s", body)
			}
			got := review.Response
			if got.UID != uid {
				t.Errorf("response UID %q, want %q", got.UID, uid)
			}
			if got.Allowed != tt.wantAllowed {
				t.Errorf("allowed %v, want %v", got.Allowed, tt.wantAllowed)
			}
			if tt.wantReason != "" && (got.Result == nil || got.Result.Reason != tt.wantReason) {
				t.Errorf("result %+v, want reason %s", got.Result, tt.wantReason)
			}
			if (len(got.Patch) > 0) != tt.wantPatch {
				t.Errorf("patch %q, want a patch: %v", got.Patch, tt.wantPatch)
			}
			if code, metrics := ts.get("/metrics"); code != http.StatusOK || !strings.Contains(metrics, tt.wantMetric) {
				t.Errorf("/metrics (status %d) lacks %q", code, tt.wantMetric)
			}
		})
	}
}

// A reviewer that is handed a request answers with the UID even when the
// Reviewer forgot it, and within the apiserver's ?timeout=.
func TestReviewHonoursTimeoutAndFixesUID(t *testing.T) {
	var mu sync.Mutex
	var remaining time.Duration
	careless := reviewerFunc(func(ctx context.Context, _ *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		deadline, _ := ctx.Deadline()
		mu.Lock()
		remaining = time.Until(deadline)
		mu.Unlock()
		return &admissionv1.AdmissionResponse{Allowed: true} // no UID
	})
	ts := startServer(t, careless, careless)
	ts.waitServing()

	resp, body, err := ts.post("/validate?timeout=2s", "application/json", bytes.NewReader(reviewBody(t, "the-uid", admissionv1.Create)))
	if err != nil {
		t.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %q, err %v", resp.StatusCode, body, err)
	}
	if review.Response.UID != "the-uid" {
		t.Errorf("response UID %q, want the-uid", review.Response.UID)
	}
	mu.Lock()
	defer mu.Unlock()
	if remaining <= 0 || remaining > 2*time.Second {
		t.Errorf("reviewer had %v left, want at most the 2s the apiserver asked for", remaining)
	}
}

// chunked hides the length of a body so that only the reader's limit can
// catch an oversized one.
type chunked struct{ io.Reader }

func TestBadRequestsAreRefusedAndTheServerKeepsServing(t *testing.T) {
	panics := reviewerFunc(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		panic("reviewer bug")
	})
	ts := startServer(t, panics, allowWithPatch)
	ts.waitServing()

	valid := string(reviewBody(t, "uid-1", admissionv1.Create))
	huge := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","padding":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        io.Reader
		wantStatus  int
		wantMessage string
	}{
		{name: "body over 1 MiB with a length", path: "/validate", body: strings.NewReader(huge), wantStatus: http.StatusRequestEntityTooLarge},
		{name: "body over 1 MiB chunked", path: "/validate", body: chunked{strings.NewReader(huge)}, wantStatus: http.StatusRequestEntityTooLarge},
		{name: "text/plain", path: "/validate", contentType: "text/plain", body: strings.NewReader(valid), wantStatus: http.StatusUnsupportedMediaType},
		{name: "no Content-Type", path: "/mutate", contentType: "-", body: strings.NewReader(valid), wantStatus: http.StatusUnsupportedMediaType},
		{name: "JSON with parameters is JSON", path: "/validate", contentType: "application/json; charset=utf-8", body: strings.NewReader(valid), wantStatus: http.StatusOK},
		{name: "truncated JSON", path: "/validate", body: strings.NewReader(valid[:len(valid)/2]), wantStatus: http.StatusBadRequest, wantMessage: "decode admission review"},
		{name: "empty body", path: "/validate", body: strings.NewReader(""), wantStatus: http.StatusBadRequest, wantMessage: "empty body"},
		{name: "v1beta1 review", path: "/validate", body: strings.NewReader(strings.Replace(valid, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1)),
			wantStatus: http.StatusBadRequest, wantMessage: "admission.k8s.io/v1beta1"},
		{name: "another kind", path: "/validate", body: strings.NewReader(`{"apiVersion":"v1","kind":"Pod","request":{"uid":"x"}}`),
			wantStatus: http.StatusBadRequest, wantMessage: `kind "Pod"`},
		{name: "no request", path: "/validate", body: strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
			wantStatus: http.StatusBadRequest, wantMessage: "no request"},
		{name: "GET", method: http.MethodGet, path: "/validate", wantStatus: http.StatusMethodNotAllowed},
		{name: "PUT", method: http.MethodPut, path: "/mutate", body: strings.NewReader(valid), wantStatus: http.StatusMethodNotAllowed},
		{name: "unknown path", path: "/convert", body: strings.NewReader(valid), wantStatus: http.StatusNotFound},
		{name: "panicking reviewer", path: "/mutate", body: strings.NewReader(valid), wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, "https://"+ts.secure+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			switch tt.contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := ts.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(string(body), tt.wantMessage) {
				t.Errorf("body %q lacks %q", body, tt.wantMessage)
			}
		})
	}

	// After all that, a good request is still answered.
	resp, body, err := ts.post("/validate", "application/json", strings.NewReader(valid))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("valid request after the bad ones: %v, %v, %q", err, resp, body)
	}
	_, metrics := ts.get("/metrics")
	for _, want := range []string{
		`memhpa_webhook_admission_requests_total{operation="",reason="RequestEntityTooLarge",result="error",webhook="validate"} 2`,
		`memhpa_webhook_admission_requests_total{operation="CREATE",reason="InternalError",result="error",webhook="mutate"} 1`,
		`memhpa_webhook_admission_duration_seconds_count{result="allowed",webhook="validate"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestTLSVersionsAndHTTP2(t *testing.T) {
	ts := startServer(t, allowWithPatch, allowWithPatch)
	ts.waitServing()

	tests := []struct {
		name       string
		min, max   uint16
		nextProtos []string
		wantErr    bool
		wantProto  string
	}{
		{name: "TLS 1.0 refused", min: tls.VersionTLS10, max: tls.VersionTLS10, wantErr: true},
		{name: "TLS 1.1 refused", min: tls.VersionTLS11, max: tls.VersionTLS11, wantErr: true},
		{name: "TLS 1.2 accepted", min: tls.VersionTLS12, max: tls.VersionTLS12},
		{name: "TLS 1.3 accepted", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{name: "h2 offered, http/1.1 chosen", min: tls.VersionTLS12, nextProtos: []string{"h2", "http/1.1"}, wantProto: "http/1.1"},
		{name: "only h2 offered, nothing chosen", min: tls.VersionTLS12, nextProtos: []string{"h2"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ts.clientTLS.Clone()
			cfg.MinVersion, cfg.MaxVersion, cfg.NextProtos = tt.min, tt.max, tt.nextProtos
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", ts.secure, cfg)
			if tt.wantErr {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded, want it refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().NegotiatedProtocol; got != tt.wantProto {
				t.Errorf("negotiated protocol %q, want %q", got, tt.wantProto)
			}
		})
	}
}

func TestHealthzFailsUntilACertificateIsLoaded(t *testing.T) {
	ts := startServer(t, allowWithPatch, allowWithPatch, withoutCertificate())
	waitFor(t, "the probe port", func() (bool, string) {
		code, body := ts.get("/livez")
		return code == http.StatusOK, body
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := ts.get(path); code != http.StatusServiceUnavailable {
			t.Errorf("%s before a certificate: %d %q, want 503", path, code, body)
		}
	}
	if _, err := ts.servedSerial(); err == nil {
		t.Error("TLS handshake succeeded without a certificate")
	}

	want := ts.rotate()
	took := waitFor(t, "/healthz to pass", func() (bool, string) {
		code, body := ts.get("/healthz")
		return code == http.StatusOK, body
	})
	t.Logf("/healthz passed %v after the certificate was written", took)
	if code, body := ts.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with a certificate: %d %q", code, body)
	}
	got, err := ts.servedSerial()
	if err != nil || got.Cmp(want) != 0 {
		t.Errorf("served serial %v (err %v), want %v", got, err, want)
	}
}

func TestReadyzFailsUntilTheCachesHaveSynced(t *testing.T) {
	var synced atomic.Bool
	ts := startServer(t, allowWithPatch, allowWithPatch, readyWhen("informer caches not synced", synced.Load))
	ts.waitServing()
	if code, body := ts.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "informer caches not synced") {
		t.Errorf("/readyz before the sync: %d %q, want 503 and why", code, body)
	}
	if code, body := ts.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz before the sync: %d %q, want 200 (the process is healthy, only not ready)", code, body)
	}
	synced.Store(true)
	if code, body := ts.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the sync: %d %q, want 200", code, body)
	}
}

func TestRotatedCertificateIsServedWithoutRestart(t *testing.T) {
	ts := startServer(t, allowWithPatch, allowWithPatch)
	ts.waitServing()
	first, err := ts.servedSerial()
	if err != nil {
		t.Fatal(err)
	}

	second := ts.rotate()
	if second.Cmp(first) == 0 {
		t.Fatal("rotation kept the serial number")
	}
	took := waitFor(t, "the rotated certificate", func() (bool, string) {
		got, err := ts.servedSerial()
		if err != nil {
			return false, err.Error()
		}
		return got.Cmp(second) == 0, fmt.Sprintf("serial %x", got)
	})
	t.Logf("rotated certificate served %v after it was written (reload interval 50ms)", took)

	// The server is the same process and still answers reviews.
	resp, body, err := ts.post("/mutate", "application/json", bytes.NewReader(reviewBody(t, "after-rotation", admissionv1.Create)))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("review after rotation: %v %v %q", err, resp, body)
	}
}

func TestShutdownCompletesInFlightRequests(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := reviewerFunc(func(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		close(entered)
		<-release
		return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	})
	ts := startServer(t, slow, slow)
	ts.waitServing()

	type answer struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, body, err := ts.post("/validate", "application/json", bytes.NewReader(reviewBody(t, "in-flight", admissionv1.Create)))
		a := answer{body: body, err: err}
		if resp != nil {
			a.status = resp.StatusCode
		}
		answered <- a
	}()
	select {
	case <-entered:
	case <-time.After(testDeadline):
		t.Fatal("request never reached the reviewer")
	}

	ts.cancel() // what SIGTERM does in main
	waitFor(t, "/readyz to fail during the drain", func() (bool, string) {
		code, body := ts.get("/readyz")
		return code == http.StatusServiceUnavailable, fmt.Sprintf("%d %s", code, body)
	})
	select {
	case err := <-ts.done:
		t.Fatalf("server stopped with a request in flight: %v", err)
	default:
	}

	close(release)
	a := <-answered
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("in-flight request: status %d, err %v, body %q", a.status, a.err, a.body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(a.body, &review); err != nil || review.Response == nil || review.Response.UID != "in-flight" {
		t.Fatalf("in-flight answer %q (err %v)", a.body, err)
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Fatalf("Serve returned %v after a clean drain", err)
		}
		ts.done <- nil // for the cleanup
	case <-time.After(testDeadline):
		t.Fatal("server did not stop after the drain")
	}
	if _, err := ts.servedSerial(); err == nil {
		t.Error("TLS port still accepts connections after shutdown")
	}
}

// BenchmarkReviewOverTLS measures the server's own cost of one admission over
// a kept-alive TLS connection (the Reviewer is a fake that allows at once).
func BenchmarkReviewOverTLS(b *testing.B) {
	ts := startServer(b, allowWithPatch, allowWithPatch)
	ts.waitServing()
	client := ts.client()
	body := reviewBody(b, "bench", admissionv1.Create)
	url := "https://" + ts.secure + "/mutate"
	for b.Loop() {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// A client that sends half a request header is cut off after
// readHeaderTimeout instead of holding a connection (and a goroutine) forever.
func TestSlowHeaderClientIsCutOff(t *testing.T) {
	ts := startServer(t, allowWithPatch, allowWithPatch)
	ts.waitServing()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", ts.secure, ts.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(readHeaderTimeout + testDeadline)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(make([]byte, 1024))
	took := time.Since(start)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("connection still open %v after half a header (read %d bytes)", took, n)
	}
	if took > readHeaderTimeout+2*time.Second {
		t.Errorf("connection closed after %v, want about %v", took, readHeaderTimeout)
	}
	t.Logf("half-header connection closed after %v (read %d bytes, err %v)", took, n, err)

	// The server still answers others.
	resp, body, err := ts.post("/validate", "application/json", bytes.NewReader(reviewBody(t, "after-slow", admissionv1.Create)))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("review after a slow client: %v %v %q", err, resp, body)
	}
}

// Beyond the in-flight limits (a number of reviews, a sum of declared body
// sizes), the next review is answered 429 with a Retry-After at once, before
// its body is read (the test never sends it); a review within the limits is
// served meanwhile, and once the held reviews are answered, reviews are
// served again.
func TestReviewsBeyondTheInFlightLimitsAreRefused(t *testing.T) {
	big := len(bigReview(t, MaxBodyBytes-512))
	tests := []struct {
		name        string
		maxReviews  int
		maxBytes    int64
		held        []int  // body sizes of the reviews held in the reviewer
		beyond      string // headers of the refused request: its declared body
		withinLimit bool   // a small review is still served while they are held
	}{
		{name: "one review more than the count", maxReviews: 3, maxBytes: 8 << 20, held: []int{0, 0, 0},
			beyond: "Content-Length: 1000"},
		{name: "a body over the byte budget", maxReviews: 64, maxBytes: int64(2*big) + 64<<10, held: []int{big, big},
			beyond: fmt.Sprintf("Content-Length: %d", big), withinLimit: true},
		{name: "a body of unknown length counts as the largest", maxReviews: 64, maxBytes: MaxBodyBytes, held: []int{0},
			beyond: "Transfer-Encoding: chunked", withinLimit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered := make(chan struct{}, len(tt.held))
			release := make(chan struct{})
			held := reviewerFunc(func(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
				if strings.HasPrefix(string(req.UID), "held-") {
					entered <- struct{}{}
					<-release
				}
				return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
			})
			ts := startServer(t, held, held, func(_ *testServer, cfg *Config) {
				cfg.MaxInFlightReviews, cfg.MaxInFlightBodyBytes = tt.maxReviews, tt.maxBytes
			})
			ts.waitServing()
			releaseOnce := sync.OnceFunc(func() { close(release) })
			t.Cleanup(releaseOnce)

			statuses := make(chan int, len(tt.held))
			for i, size := range tt.held {
				path := []string{"/validate", "/mutate"}[i%2] // the limits are shared by both paths
				body := reviewBody(t, types.UID(fmt.Sprint("held-", i)), admissionv1.Create)
				if size > 0 {
					body = bytes.Replace(bigReview(t, size), []byte(`"uid":"big"`), []byte(fmt.Sprintf(`"uid":"held-%d"`, i)), 1)
				}
				go func() {
					resp, out, err := ts.post(path, "application/json", bytes.NewReader(body))
					if err != nil {
						t.Errorf("held review %d: %v", i, err)
						statuses <- 0
						return
					}
					if resp.StatusCode != http.StatusOK {
						t.Errorf("held review %d: status %d, body %.200q", i, resp.StatusCode, out)
					}
					statuses <- resp.StatusCode
				}()
			}
			for i := range tt.held {
				select {
				case <-entered:
				case <-time.After(testDeadline):
					t.Fatalf("only %d of %d reviews reached the reviewer", i, len(tt.held))
				}
			}
			if _, metrics := ts.get("/metrics"); !strings.Contains(metrics, fmt.Sprintf("memhpa_webhook_in_flight_reviews %d", len(tt.held))) {
				t.Errorf("/metrics does not show %d reviews in flight:\n%s", len(tt.held), grepLines(metrics, "in_flight"))
			}

			// One more, whose body never comes: only an answer that does not
			// wait for the body can arrive.
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", ts.secure, ts.clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+tt.beyond+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if err := conn.SetReadDeadline(time.Now().Add(testDeadline)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("review beyond the limit, body not sent: no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("review beyond the limit: status %d, body %q; want 429", resp.StatusCode, body)
			}
			if ra := resp.Header.Get("Retry-After"); ra == "" {
				t.Error("429 without Retry-After")
			}
			if _, metrics := ts.get("/metrics"); !strings.Contains(metrics,
				`memhpa_webhook_admission_requests_total{operation="",reason="TooManyRequests",result="error",webhook="validate"} 1`) {
				t.Errorf("/metrics does not count the refused review:\n%s", grepLines(metrics, "admission_requests_total"))
			}
			if tt.withinLimit {
				resp, out, err := ts.post("/mutate", "application/json", bytes.NewReader(reviewBody(t, "within-the-limit", admissionv1.Create)))
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("review within the limit while the others are held: %v %v %q", err, resp, out)
				}
			}

			releaseOnce()
			for range tt.held {
				<-statuses
			}
			resp, out, err := ts.post("/validate", "application/json", bytes.NewReader(reviewBody(t, "after-the-limit", admissionv1.Create)))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("review once the held ones were answered: %v %v %q", err, resp, out)
			}
		})
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The counters of the cross-object checks' live reads are on /metrics.
func TestLookupCountsAreExported(t *testing.T) {
	s := New(DefaultConfig(), allowWithPatch, allowWithPatch)
	s.metrics.watchLookup(func() admission.LookupCounts {
		return admission.LookupCounts{LiveReads: 7, Throttled: 980, NotFoundHits: 13}
	})
	rec := httptest.NewRecorder()
	s.healthRouter().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		"memhpa_webhook_live_reads_total 7",
		"memhpa_webhook_live_reads_throttled_total 980",
		"memhpa_webhook_not_found_cache_hits_total 13",
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
