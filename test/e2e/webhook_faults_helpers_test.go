package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// webhookTLS is a client configuration that trusts the harness's development
// CA and speaks what the apiserver speaks to webhooks: TLS 1.2+, HTTP/1.1.
func webhookTLS(t *testing.T) *tls.Config {
	t.Helper()
	caPEM, err := env.WebhookCA()
	if err != nil {
		t.Fatalf("read the webhook's CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in the webhook's CA bundle")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

// webhookClient is an HTTPS client for the running webhook binary; each test
// gets its own connection pool.
func webhookClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: webhookTLS(t), ForceAttemptHTTP2: false}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func newUID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "e2e-" + hex.EncodeToString(b)
}

// validReviewJSON is an AdmissionReview v1 for the create of a valid MemHpa
// without targetUtilizationPercentage (so the defaulter has a patch to make).
func validReviewJSON(uid string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{`+
		`"uid":%q,"kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},`+
		`"resource":{"group":"autoscaling.memhpa.io","version":"v1alpha1","resource":"memhpas"},`+
		`"name":"hostile","namespace":"default","operation":"CREATE","userInfo":{"username":"e2e"},`+
		`"object":{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"hostile","namespace":"default"},`+
		`"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"hostile"},"maxReplicas":3}}}}`, uid))
}

// reviewAnswer is what one POST of a review returned.
type reviewAnswer struct {
	status int
	body   string
	review admissionv1.AdmissionReview
}

func postReview(ctx context.Context, c *http.Client, url, contentType string, body []byte) (reviewAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return reviewAnswer{}, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		return reviewAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reviewAnswer{}, fmt.Errorf("read answer: %w", err)
	}
	a := reviewAnswer{status: resp.StatusCode, body: string(raw)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &a.review); err != nil {
			return a, fmt.Errorf("answer is not an AdmissionReview: %w: %s", err, raw)
		}
	}
	return a, nil
}

// requireValidReviewsAnswered sends a valid review to /mutate and /validate
// of the running webhook and requires each to be answered correctly: 200, an
// AdmissionReview v1 with the request's UID, allowed, and (mutate) the
// defaulting patch.
func requireValidReviewsAnswered(t *testing.T, c *http.Client, after string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, path := range []string{"/mutate", "/validate"} {
		uid := newUID()
		a, err := postReview(ctx, c, env.WebhookURL()+path, "application/json", validReviewJSON(uid))
		if err != nil {
			t.Fatalf("after %s: valid review to %s failed: %v", after, path, err)
		}
		if a.status != http.StatusOK {
			t.Fatalf("after %s: valid review to %s: status %d, body %q", after, path, a.status, a.body)
		}
		r := a.review.Response
		switch {
		case a.review.APIVersion != "admission.k8s.io/v1" || a.review.Kind != "AdmissionReview":
			t.Fatalf("after %s: %s answered %s %s, want admission.k8s.io/v1 AdmissionReview", after, path, a.review.APIVersion, a.review.Kind)
		case r == nil:
			t.Fatalf("after %s: %s answered without a response: %s", after, path, a.body)
		case string(r.UID) != uid:
			t.Fatalf("after %s: %s answered uid %q, want %q", after, path, r.UID, uid)
		case !r.Allowed:
			t.Fatalf("after %s: %s denied a valid MemHpa: %s", after, path, a.body)
		case path == "/mutate" && !strings.Contains(string(r.Patch), "targetUtilizationPercentage"):
			t.Fatalf("after %s: /mutate did not default targetUtilizationPercentage: %s", after, a.body)
		}
	}
}

// sentReview is what sendValidReview learnt about the connection.
type sentReview struct {
	proto  string // HTTP version of the answer
	serial string // serial of the server certificate
}

// sendValidReview posts a valid review with a new UID to path of the
// harness's webhook and requires a 200 that carries that UID.
func sendValidReview(ctx context.Context, c *http.Client, path string) (sentReview, error) {
	uid := newUID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL()+path, bytes.NewReader(validReviewJSON(uid)))
	if err != nil {
		return sentReview{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return sentReview{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	sent := sentReview{proto: resp.Proto}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		sent.serial = resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), uid) {
		return sent, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return sent, nil
}
