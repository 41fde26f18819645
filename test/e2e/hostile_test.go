package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The webhook binary's HTTP limits (webhook/internal/server: readHeaderTimeout,
// readTimeout, MaxBodyBytes, maxHeaderBytes). They are constants there, not
// flags, so the test states them and fails when the binary stops keeping them.
const (
	webhookReadHeaderTimeout = 5 * time.Second
	webhookReadTimeout       = 10 * time.Second
	webhookMaxBody           = 1 << 20
	webhookMaxHeader         = 64 << 10
	// cutSlack is how late past a timeout a cut-off may come on a loaded
	// two-core machine.
	cutSlack = 4 * time.Second
)

// Every hostile request to the running webhook binary (started by the
// harness, over its real TLS port) is answered with a clear error, and the
// very next valid review is still answered correctly.
func TestHostileRequestsToTheWebhook(t *testing.T) {
	requireWebhook(t)
	client := webhookClient(t)
	valid := string(validReviewJSON("hostile-uid"))
	review := func(request string) string {
		return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":` + request + `}`
	}
	const depth = 100_000
	tests := []struct {
		name        string
		method      string // default POST
		path        string // default /validate
		contentType string // default application/json; "-" for none
		header      http.Header
		body        string
		chunked     bool // hide the length: the server must count the bytes
		wantStatus  int
		wantMessage string // in the body
	}{
		{name: "truncated JSON", body: valid[:len(valid)/2], wantStatus: 400, wantMessage: "decode admission review"},
		{name: "truncated to one byte", body: "{", wantStatus: 400, wantMessage: "decode admission review"},
		{name: "empty body", body: "", wantStatus: 400, wantMessage: "empty body"},
		{name: "binary garbage", body: "\x00\xff\xfe\x01garbage\x00", wantStatus: 400, wantMessage: "decode admission review"},
		{name: "JSON array instead of an object", body: `[1,2,3]`, wantStatus: 400, wantMessage: "decode admission review"},
		{name: "100k nested arrays as the body", body: strings.Repeat("[", depth) + strings.Repeat("]", depth),
			wantStatus: 400, wantMessage: "decode admission review"},
		{name: "100k nested arrays as the object",
			body:       review(`{"uid":"u","kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},"operation":"CREATE","object":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`),
			wantStatus: 400, wantMessage: "decode admission review"},
		{name: "100k nested objects as the object",
			body:       review(`{"uid":"u","kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},"operation":"CREATE","object":` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) + `}`),
			wantStatus: 400, wantMessage: "decode admission review"},
		{name: "AdmissionReview v1beta1", body: strings.Replace(valid, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1),
			wantStatus: 400, wantMessage: "v1beta1"},
		{name: "no apiVersion or kind", body: `{"request":{"uid":"u"}}`, wantStatus: 400, wantMessage: "want admission.k8s.io/v1 AdmissionReview"},
		{name: "no request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantStatus: 400, wantMessage: "no request"},
		{name: "null request", body: review(`null`), wantStatus: 400, wantMessage: "no request"},
		{name: "request without uid", body: review(`{"operation":"CREATE"}`), wantStatus: 400, wantMessage: "no uid"},
		{name: "a Pod instead of a review", body: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`, wantStatus: 400, wantMessage: "want admission.k8s.io/v1 AdmissionReview"},
		{name: "a MemHpa object that is not an object",
			body:       review(`{"uid":"u","kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},"operation":"CREATE","object":"not an object"}`),
			wantStatus: 200, wantMessage: `"allowed":false`},
		{name: "a MemHpa with a wrongly typed field",
			body:       review(`{"uid":"u","kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},"operation":"CREATE","object":{"spec":{"maxReplicas":"three"}}}`),
			wantStatus: 200, wantMessage: `"allowed":false`},
		{name: "body over 1 MiB with its length", body: review(`{"uid":"u","object":{"x":"` + strings.Repeat("a", webhookMaxBody) + `"}}`),
			wantStatus: 413, wantMessage: "larger than"},
		{name: "body over 1 MiB chunked, mutate", path: "/mutate", chunked: true,
			body:       review(`{"uid":"u","object":{"x":"` + strings.Repeat("a", 3*webhookMaxBody) + `"}}`),
			wantStatus: 413, wantMessage: "larger than"},
		{name: "wrong Content-Type", contentType: "text/plain", body: valid, wantStatus: 415, wantMessage: "application/json"},
		{name: "YAML Content-Type", contentType: "application/yaml", body: valid, wantStatus: 415, wantMessage: "application/json"},
		{name: "no Content-Type", contentType: "-", body: valid, wantStatus: 415, wantMessage: "application/json"},
		{name: "malformed Content-Type", contentType: "application/json; ;;=", body: valid, wantStatus: 415, wantMessage: "application/json"},
		{name: "GET", method: http.MethodGet, wantStatus: 405},
		{name: "PUT", method: http.MethodPut, path: "/mutate", body: valid, wantStatus: 405},
		{name: "DELETE", method: http.MethodDelete, wantStatus: 405},
		{name: "unknown path", path: "/convert", body: valid, wantStatus: 404},
		{name: "path traversal", path: "/validate/../../etc/passwd", body: valid, wantStatus: 404},
		{name: "headers over the limit", header: http.Header{"X-Big": {strings.Repeat("h", webhookMaxHeader+8<<10)}}, body: valid,
			wantStatus: 431},
		{name: "absurd timeout hint", path: "/validate?timeout=-99999h", body: valid, wantStatus: 200, wantMessage: `"allowed":true`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			method, path, ct := tc.method, tc.path, tc.contentType
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/validate"
			}
			if ct == "" {
				ct = "application/json"
			}
			var in io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				in = io.MultiReader(in) // no length known: sent chunked
			}
			req, err := http.NewRequestWithContext(ctx, method, env.WebhookURL()+path, in)
			if err != nil {
				t.Fatal(err)
			}
			if ct != "-" {
				req.Header.Set("Content-Type", ct)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			t.Logf("%d in %v: %.200s", resp.StatusCode, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(body)))
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d; body %.500s", resp.StatusCode, tc.wantStatus, body)
			}
			if !strings.Contains(string(body), tc.wantMessage) {
				t.Errorf("body %.500q does not say %q", body, tc.wantMessage)
			}
			if strings.Contains(string(body), "goroutine ") || strings.Contains(string(body), "panic") {
				t.Errorf("the answer leaks a panic or stack: %.500s", body)
			}
			requireValidReviewsAnswered(t, client, tc.name)
		})
	}
	requireWebhookAlive(t)
}

// A client that sends its headers a few bytes at a time (slowloris) is cut
// off by the server's ReadHeaderTimeout, and one that sends its body slowly by
// ReadTimeout; while 50 of each hang on, valid reviews are answered.
func TestSlowClientsAreCutOff(t *testing.T) {
	requireWebhook(t)
	client := webhookClient(t)
	cfg := webhookTLS(t)
	const slowClients = 50
	type outcome struct {
		kind    string
		elapsed time.Duration
		sent    int
		answer  string
		err     error
	}
	results := make(chan outcome, 2*slowClients)
	var wg sync.WaitGroup
	for i := range 2 * slowClients {
		kind := "headers"
		if i%2 == 1 {
			kind = "body"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			elapsed, sent, answer, err := slowRequest(cfg, kind == "body", 30*time.Second)
			results <- outcome{kind, elapsed, sent, answer, err}
		}()
	}
	// While they hang on, the webhook answers.
	deadline := time.Now().Add(webhookReadHeaderTimeout - time.Second)
	reviews := 0
	for time.Now().Before(deadline) {
		requireValidReviewsAnswered(t, client, fmt.Sprintf("%d slow clients connected", 2*slowClients))
		reviews++
	}
	wg.Wait()
	close(results)
	for r := range results {
		limit := webhookReadHeaderTimeout
		if r.kind == "body" {
			limit = webhookReadTimeout
		}
		switch {
		case r.err != nil:
			t.Errorf("slow %s client: %v", r.kind, r.err)
		case r.elapsed > limit+cutSlack:
			t.Errorf("slow %s client kept its connection for %v (%d bytes sent), want a cut-off by %v", r.kind, r.elapsed, r.sent, limit)
		case r.elapsed < limit-time.Second:
			t.Errorf("slow %s client cut off after %v, before the %v timeout: something else closed it (answer %q)", r.kind, r.elapsed, limit, r.answer)
		case strings.HasPrefix(r.answer, "HTTP/1.1 200"):
			t.Errorf("slow %s client got a 200: %q", r.kind, r.answer)
		}
	}
	t.Logf("%d slow-header and %d slow-body clients cut off; %d valid review pairs answered meanwhile", slowClients, slowClients, reviews)
	requireValidReviewsAnswered(t, client, "slow clients")
}

// slowRequest opens a TLS connection to the webhook and sends a review request
// one small piece every 250ms: its headers (slowBody false) or, after complete
// headers, its body. It returns when the server closes the connection (or
// answers), with how long that took, how many bytes were sent and the first
// line of the answer, if any.
func slowRequest(cfg *tls.Config, slowBody bool, giveUp time.Duration) (time.Duration, int, string, error) {
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), giveUp)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(env.WebhookURL(), "https://"))
	if err != nil {
		return 0, 0, "", fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(giveUp))

	closed := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		closed <- strings.TrimSpace(line)
	}()
	start := time.Now()
	sent := 0
	write := func(s string) error {
		n, err := io.WriteString(conn, s)
		sent += n
		return err
	}
	head := "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	if slowBody {
		if err := write(head + "Content-Length: 100000\r\n\r\n"); err != nil {
			return 0, sent, "", fmt.Errorf("write headers: %w", err)
		}
	} else if err := write("POST /validate HTTP/1.1\r\n"); err != nil {
		return 0, sent, "", fmt.Errorf("write request line: %w", err)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case answer := <-closed:
			return time.Since(start), sent, answer, nil
		case <-ctx.Done():
			return time.Since(start), sent, "", fmt.Errorf("still connected after %v", giveUp)
		case <-tick.C:
		}
		piece := fmt.Sprintf("X-Slow-%d: 1\r\n", i)
		if slowBody {
			piece = " "
		}
		if err := write(piece); err != nil {
			// The server closed first; the reader sees it too.
			select {
			case answer := <-closed:
				return time.Since(start), sent, answer, nil
			case <-time.After(5 * time.Second):
				return time.Since(start), sent, "", fmt.Errorf("write failed (%v) but the connection did not close", err)
			}
		}
	}
}

// requireWebhookAlive fails when the harness's webhook process is no longer
// serving TLS (a crash would be hidden by a test that only counts errors).
func requireWebhookAlive(t *testing.T) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		strings.TrimPrefix(env.WebhookURL(), "https://"), webhookTLS(t))
	if err != nil {
		t.Fatalf("the webhook no longer serves TLS: %v", err)
	}
	conn.Close()
}
