package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// promFault is what the Prometheus proxy does to the scaler's queries.
type promFault int

const (
	promPass  promFault = iota // forward unchanged
	promDelay                  // hold the answer for the proxy's delay first
	promNaN                    // every sample's value becomes "NaN"
	promEmpty                  // the result vector becomes empty
	promHuge                   // the answer is hugeSeries series of hugeNamespace, streamed
)

// promProxy sits between the scaler and the harness's Prometheus on
// 127.0.0.1 and can delay or rewrite its answers. It records the
// Authorization headers it saw.
type promProxy struct {
	URL string

	mu       sync.Mutex
	fault    promFault
	delay    time.Duration
	queries  int
	faulted  int
	authSeen []string

	hugeNamespace string
	hugeSeries    int
	hugeSent      int64 // the most bytes of one huge answer the scaler took
}

// startPromProxy starts a proxy in front of env.PrometheusURL; it stops with
// the test.
func startPromProxy(t *testing.T) *promProxy {
	t.Helper()
	target, err := url.Parse(env.PrometheusURL)
	if err != nil {
		t.Fatalf("parse Prometheus URL: %v", err)
	}
	p := &promProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = p.rewrite
	// A query the scaler gave up on is the expected outcome of a delay.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		fault, delay := p.fault, p.delay
		if strings.HasPrefix(r.URL.Path, "/api/v1/query") {
			p.queries++
			if fault != promPass {
				p.faulted++
			}
		}
		if a := r.Header.Get("Authorization"); a != "" {
			p.authSeen = append(p.authSeen, a)
		}
		p.mu.Unlock()
		if fault == promHuge && strings.HasPrefix(r.URL.Path, "/api/v1/query") {
			p.serveHuge(w)
			return
		}
		if fault == promDelay {
			select {
			case <-time.After(delay):
			case <-r.Context().Done(): // the scaler gave up: its deadline works
				return
			}
		}
		rp.ServeHTTP(w, r)
	})
	p.URL = "http://" + serveLoopback(t, handler)
	return p
}

// set changes the fault from now on.
func (p *promProxy) set(f promFault, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.delay = f, delay
}

// setHuge makes every query answer n series of namespace ns from now on.
func (p *promProxy) setHuge(ns string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.hugeNamespace, p.hugeSeries = promHuge, ns, n
}

// serveHuge streams a vector of hugeSeries container series, made as it goes
// (the test never holds the answer), until it is whole or the client hangs up.
func (p *promProxy) serveHuge(w http.ResponseWriter) {
	p.mu.Lock()
	ns, n := p.hugeNamespace, p.hugeSeries
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	defer func() {
		p.mu.Lock()
		p.hugeSent = max(p.hugeSent, cw.n)
		p.mu.Unlock()
	}()
	ts := time.Now().Unix()
	if _, err := bw.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`); err != nil {
		return
	}
	for i := range n {
		sep := ","
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(bw, `%s{"metric":{"container":"app","namespace":%q,"pod":"ghost-%07d"},"value":[%d,"1048576"]}`, sep, ns, i, ts); err != nil {
			return // the scaler hung up: what its cap is for
		}
	}
	if _, err := bw.WriteString(`]}}`); err == nil {
		_ = bw.Flush()
	}
}

// hugeBytes is the most bytes of one huge answer that reached the scaler's
// socket (its kernel buffers included).
func (p *promProxy) hugeBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hugeSent
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// counts returns the queries seen in all, and those that met a fault.
func (p *promProxy) counts() (all, faulted int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queries, p.faulted
}

func (p *promProxy) authorizations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.authSeen...)
}

// rewrite turns a successful query answer into NaN samples or an empty vector.
func (p *promProxy) rewrite(resp *http.Response) error {
	p.mu.Lock()
	fault := p.fault
	p.mu.Unlock()
	if (fault != promNaN && fault != promEmpty) || !strings.HasPrefix(resp.Request.URL.Path, "/api/v1/query") ||
		resp.StatusCode != http.StatusOK {
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var answer struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("proxy: decode Prometheus answer: %w", err)
	}
	if answer.Data.ResultType == "vector" {
		out := []json.RawMessage{}
		if fault == promNaN {
			for _, r := range answer.Data.Result {
				var s struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
				}
				if err := json.Unmarshal(r, &s); err != nil || len(s.Value) != 2 {
					return fmt.Errorf("proxy: decode sample %s: %v", r, err)
				}
				s.Value[1] = "NaN"
				b, _ := json.Marshal(s)
				out = append(out, b)
			}
		}
		answer.Data.Result = out
	}
	b, err := json.Marshal(answer)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", fmt.Sprint(len(b)))
	resp.Header.Del("Content-Encoding")
	return nil
}

// apiFault is what the API proxy does instead of forwarding a request.
type apiFault struct {
	// Status, when set, is answered with a metav1.Status body as the
	// apiserver writes it (403, 429, 500, 503).
	Status int
	// RetryAfter, in seconds, is sent as Retry-After when above zero; client-go
	// then retries the request itself within its timeout.
	RetryAfter int
	// Stall holds the request unanswered until the client gives up (or the
	// rule is lifted: then 504). A held request is never forwarded, so a
	// write the client gave up on is not applied behind its back.
	Stall bool
}

// apiRule applies Fault to the requests with one of Methods whose path is in
// Namespace and ends with Suffix ("/scale", "/status"), or is Path when set.
type apiRule struct {
	Namespace string
	Methods   []string
	Suffix    string
	Path      string
	Fault     apiFault

	hits   atomic.Int64
	lifted chan struct{}
}

func (r *apiRule) matches(req *http.Request) bool {
	if r.Path != "" {
		return slices.Contains(r.Methods, req.Method) && req.URL.Path == r.Path
	}
	return slices.Contains(r.Methods, req.Method) && strings.HasSuffix(req.URL.Path, r.Suffix) &&
		strings.Contains(req.URL.Path, "/namespaces/"+r.Namespace+"/")
}

// faulted is how many requests met the fault.
func (r *apiRule) faulted() int { return int(r.hits.Load()) }

// serve answers req with the rule's fault.
func (r *apiRule) serve(w http.ResponseWriter, req *http.Request) {
	r.hits.Add(1)
	if r.Fault.Stall {
		select {
		case <-req.Context().Done(): // the client's timeout works
			return
		case <-r.lifted:
			http.Error(w, "stalled by the test's proxy", http.StatusGatewayTimeout)
			return
		}
	}
	var st *apierrors.StatusError
	switch r.Fault.Status {
	case http.StatusTooManyRequests:
		st = apierrors.NewTooManyRequests("injected by the test's proxy", r.Fault.RetryAfter)
	case http.StatusServiceUnavailable:
		st = apierrors.NewServiceUnavailable("injected by the test's proxy")
	case http.StatusForbidden:
		st = apierrors.NewForbidden(schema.GroupResource{}, "", errors.New("injected by the test's proxy"))
	default:
		st = apierrors.NewInternalError(errors.New("injected by the test's proxy"))
	}
	st.ErrStatus.Code = int32(r.Fault.Status)
	st.ErrStatus.Kind, st.ErrStatus.APIVersion = "Status", "v1"
	body, _ := json.Marshal(st.ErrStatus)
	w.Header().Set("Content-Type", "application/json")
	if r.Fault.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(r.Fault.RetryAfter))
	}
	w.WriteHeader(r.Fault.Status)
	_, _ = w.Write(body)
}

// scalePut is one write of a /scale subresource seen by the API proxy.
type scalePut struct {
	Path            string
	ResourceVersion string
	Replicas        int32
	Status          int
	At              time.Time
}

// apiProxy is a plain-HTTP reverse proxy on 127.0.0.1 in front of the
// harness's kube-apiserver, authenticating as the admin user. A scaler given
// its kubeconfig goes through it, so the test sees every /scale write, can
// slip another writer's change in just before one, and can answer chosen
// requests with a fault instead of forwarding them.
type apiProxy struct {
	Kubeconfig string

	mu     sync.Mutex
	puts   []scalePut
	before func(ctx context.Context, put scalePut) // called before a /scale PUT is forwarded
	rules  []*apiRule
	// requests counts every request by method and path, watches included.
	requests map[string]int
}

func startAPIProxy(t *testing.T) *apiProxy {
	t.Helper()
	cfg, err := env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatalf("transport for the apiserver: %v", err)
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{requests: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1 // watches stream
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		if rule := p.ruleFor(r); rule != nil {
			rule.serve(w, r)
			return
		}
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/scale") {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		put := scalePut{Path: r.URL.Path, At: time.Now()}
		var sc struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
			Spec struct {
				Replicas int32 `json:"replicas"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &sc); err != nil {
			put.ResourceVersion = "<undecodable: " + err.Error() + ">"
		} else {
			put.ResourceVersion, put.Replicas = sc.Metadata.ResourceVersion, sc.Spec.Replicas
		}
		p.mu.Lock()
		before := p.before
		p.mu.Unlock()
		if before != nil {
			before(r.Context(), put)
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		put.Status = rec.status
		p.mu.Lock()
		p.puts = append(p.puts, put)
		p.mu.Unlock()
	})
	addr := serveLoopback(t, handler)
	p.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: proxy
  cluster: {server: "http://%s"}
users:
- name: proxy
  user: {}
contexts:
- name: proxy
  context: {cluster: proxy, user: proxy}
current-context: proxy
`, addr)
	if err := os.WriteFile(p.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *apiProxy) setBefore(f func(ctx context.Context, put scalePut)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = f
}

// inject applies rule's fault from now on, until lift.
func (p *apiProxy) inject(rule *apiRule) *apiRule {
	rule.lifted = make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rule)
	return rule
}

// lift ends the fault of rule and answers the requests it holds.
func (p *apiProxy) lift(rule *apiRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.rules, rule); i >= 0 {
		p.rules = slices.Delete(p.rules, i, i+1)
		close(rule.lifted)
	}
}

func (p *apiProxy) ruleFor(r *http.Request) *apiRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if rule.matches(r) {
			return rule
		}
	}
	return nil
}

// requestsSeen returns how many requests the proxy saw, by "METHOD path".
func (p *apiProxy) requestsSeen() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.requests)
}

func (p *apiProxy) scalePuts() []scalePut {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]scalePut(nil), p.puts...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// serveLoopback serves handler over plain HTTP on a free port of 127.0.0.1
// until the test ends, and returns host:port.
func serveLoopback(t *testing.T, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
