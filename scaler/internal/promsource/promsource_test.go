package promsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/model"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

const metric = "container_memory_working_set_bytes"

func vector(results ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(results, ",") + `]}}`
}

func series(ns, pod, value string) string {
	return fmt.Sprintf(`{"metric":{"container":"app","namespace":%q,"pod":%q},"value":[1700000000,%q]}`, ns, pod, value)
}

// seriesCount is the answer's count of the series of a container seen in more than one.
func seriesCount(ns, pod, container string, n int) string {
	return fmt.Sprintf(`{"metric":{"container":%q,"memhpa_figure":"series_count","namespace":%q,"pod":%q},"value":[1700000000,"%d"]}`, container, ns, pod, n)
}

// request is what the fake Prometheus saw.
type request struct {
	method, query, timeout, auth string
}

func TestPrometheusWorkingSet(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		delay      time.Duration
		want       promquery.Samples
		wantReason string // "" for success
	}{
		{
			name: "several series", status: 200,
			body: vector(series("a", "web-1", "1048576"), series("b", "web-1", "2097152"), series("a", "web-2", "3e6")),
			want: promquery.Samples{Bytes: map[promquery.Key]int64{k("a", "web-1"): 1 << 20, k("b", "web-1"): 2 << 20, k("a", "web-2"): 3e6}, Rejected: map[promquery.Key]string{}, Duplicated: map[promquery.Key][]string{}},
		},
		{
			name: "empty result is no samples, not zero", status: 200, body: vector(),
			want: promquery.Samples{Bytes: map[promquery.Key]int64{}, Rejected: map[promquery.Key]string{}, Duplicated: map[promquery.Key][]string{}},
		},
		{
			name: "NaN and Inf are rejected", status: 200,
			body: vector(series("a", "web-1", "NaN"), series("a", "web-2", "+Inf"), series("a", "web-3", "5")),
			want: promquery.Samples{Bytes: map[promquery.Key]int64{k("a", "web-3"): 5},
				Rejected: map[promquery.Key]string{k("a", "web-1"): promquery.RejectNaN, k("a", "web-2"): promquery.RejectInf}, Duplicated: map[promquery.Key][]string{}},
		},
		{
			name: "a container in several series counts once and is reported", status: 200,
			body: vector(series("a", "web-1", "5"), seriesCount("a", "web-1", "app", 2)),
			want: promquery.Samples{Bytes: map[promquery.Key]int64{k("a", "web-1"): 5}, Rejected: map[promquery.Key]string{},
				Duplicated: map[promquery.Key][]string{k("a", "web-1"): {"app"}}},
		},
		{
			name: "query error from Prometheus", status: 422,
			body:       `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`,
			wantReason: "client_error",
		},
		{
			name: "5xx", status: 503, body: `service unavailable`, wantReason: "server_error",
		},
		{
			// Prometheus answers its own query timeout with a 503, which the
			// client reports as a server error.
			name: "5xx with a Prometheus timeout", status: 503,
			body: `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`, wantReason: "server_error",
		},
		{
			name: "not a vector", status: 200,
			body:       `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`,
			wantReason: "other",
		},
		{
			name: "slow past the deadline", status: 200, body: vector(), delay: 5 * time.Second, wantReason: "timeout",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.ParseForm(); err != nil {
					t.Errorf("parse form: %v", err)
				}
				mu.Lock()
				seen = append(seen, request{r.Method, r.Form.Get("query"), r.Form.Get("timeout"), r.Header.Get("Authorization")})
				mu.Unlock()
				if tc.delay > 0 {
					select {
					case <-time.After(tc.delay):
					case <-r.Context().Done():
						return
					}
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()

			p, err := NewPrometheus(Config{URL: srv.URL, Timeout: 1300 * time.Millisecond, Metric: metric})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got, err := p.WorkingSet(context.Background(), []string{"b", "a"})
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("query took %v, past its 1.3s deadline", elapsed)
			}
			if tc.wantReason != "" {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				if r := FailureReason(err); r != tc.wantReason {
					t.Errorf("failure reason = %q, want %q (error: %v)", r, tc.wantReason, err)
				}
				if !strings.HasPrefix(err.Error(), "query prometheus: ") {
					t.Errorf("error %q does not name the operation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Per-container figures are promquery's to test.
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(promquery.Samples{}, "Containers")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 {
				t.Fatalf("%d requests, want exactly one query", len(seen))
			}
			series := `container_memory_working_set_bytes{container!="", container!="POD", namespace=~"a|b"}`
			wantQuery := `max by (namespace, pod, container) (` + series + `) or label_replace(count by (namespace, pod, container) (` +
				series + `) > 1, "memhpa_figure", "series_count", "namespace", ".*")`
			if seen[0].query != wantQuery {
				t.Errorf("query = %s, want %s", seen[0].query, wantQuery)
			}
			// Prometheus rejects what model.ParseDuration cannot read.
			if _, err := model.ParseDuration(seen[0].timeout); err != nil {
				t.Errorf("timeout=%q is not a duration Prometheus accepts: %v", seen[0].timeout, err)
			}
			if seen[0].method != http.MethodPost {
				t.Errorf("method = %s, want POST (long namespace lists must not hit URL limits)", seen[0].method)
			}
		})
	}
}

func TestPrometheusUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	p, err := NewPrometheus(Config{URL: url, Timeout: time.Second, Metric: metric})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.WorkingSet(context.Background(), []string{"a"})
	if r := FailureReason(err); r != "unreachable" {
		t.Errorf("failure reason = %q, want unreachable (error: %v)", r, err)
	}
}

func TestPrometheusBearerToken(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, vector())
	}))
	defer srv.Close()
	// httptest serves plain http: the test allows it, as a mesh's sidecar would.
	p, err := NewPrometheus(Config{URL: srv.URL, Timeout: time.Second, Metric: metric, BearerTokenFile: token, AllowInsecureBearerToken: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WorkingSet(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	// A rotated token is picked up without a restart.
	if err := os.WriteFile(token, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WorkingSet(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"Bearer first", "Bearer second"}, auths); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

func TestNewPrometheusRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no timeout":      {URL: "http://x", Metric: metric},
		"bad metric":      {URL: "http://x", Metric: "a b", Timeout: time.Second},
		"missing CA file": {URL: "https://x", Metric: metric, Timeout: time.Second, CAFile: filepath.Join(t.TempDir(), "nope")},
		"negative cap":    {URL: "http://x", Metric: metric, Timeout: time.Second, MaxResponseBytes: -1},
		// Anyone on the path would read the token.
		"bearer token over plain http":           {URL: "http://x", Metric: metric, Timeout: time.Second, BearerTokenFile: "/token"},
		"bearer token over plain http, any case": {URL: "HTTP://x", Metric: metric, Timeout: time.Second, BearerTokenFile: "/token"},
		"bearer token to a URL without a scheme": {URL: "x:9090", Metric: metric, Timeout: time.Second, BearerTokenFile: "/token"},
	} {
		if _, err := NewPrometheus(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNewPrometheusBearerTokenTransport(t *testing.T) {
	for name, cfg := range map[string]Config{
		"over https":             {URL: "https://x", Metric: metric, Timeout: time.Second, BearerTokenFile: "/token"},
		"over http when allowed": {URL: "http://x", Metric: metric, Timeout: time.Second, BearerTokenFile: "/token", AllowInsecureBearerToken: true},
		"no token over http":     {URL: "http://x", Metric: metric, Timeout: time.Second},
	} {
		if _, err := NewPrometheus(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFake(t *testing.T) {
	f := NewFake()
	f.Set("a", "web-1", 10)
	f.Set("b", "web-1", 20)
	got, err := f.WorkingSet(context.Background(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[promquery.Key]int64{k("a", "web-1"): 10}, got.Bytes); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	f.SetError(errors.New("down"))
	if _, err := f.WorkingSet(context.Background(), []string{"a"}); err == nil {
		t.Error("no error after SetError")
	}
	if len(f.Queries()) != 2 {
		t.Errorf("queries = %v, want 2", f.Queries())
	}
}

func k(ns, pod string) promquery.Key { return promquery.Key{Namespace: ns, Pod: pod} }

// A faulty or huge Prometheus cannot make the scaler buffer more than the
// cap: an answer past it fails as a bad response, whether it says its size
// up front or streams without one.
func TestPrometheusResponseCap(t *testing.T) {
	const limit = 1 << 20
	// A figure padded with zeros to make the answer exactly limit bytes long.
	frame := len(vector(series("a", "web-1", "1") + "," + series("a", "web-2", "1")))
	underCap := vector(series("a", "web-1", "1") + "," + series("a", "web-2", strings.Repeat("0", limit-frame)+"1"))
	overByOne := vector(series("a", "web-1", "1") + "," + series("a", "web-2", strings.Repeat("0", limit-frame+1)+"1"))
	big := vector(strings.Repeat(series("a", "web-1", "1")+",", 8*limit/len(series("a", "web-1", "1"))) + series("a", "web-2", "1"))
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		wantErr bool
	}{
		{name: "exactly the cap", body: underCap},
		{name: "one byte over the cap, streamed", body: overByOne, chunked: true, wantErr: true},
		{name: "eight times the cap with a Content-Length", body: big, wantErr: true},
		{name: "eight times the cap streamed without a length", body: big, chunked: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if !tc.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(tc.body)))
				}
				for rest := tc.body; rest != ""; {
					n := min(len(rest), 32<<10)
					if _, err := io.WriteString(w, rest[:n]); err != nil {
						return // the client hung up: what the cap is for
					}
					rest = rest[n:]
					if tc.chunked {
						w.(http.Flusher).Flush()
					}
				}
			}))
			defer srv.Close()
			p, err := NewPrometheus(Config{URL: srv.URL, Timeout: 5 * time.Second, Metric: metric, MaxResponseBytes: limit})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.WorkingSet(context.Background(), []string{"a"})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("an answer of %d bytes, cap %d, failed: %v", len(tc.body), limit, err)
				}
				if len(got.Bytes) != 2 {
					t.Errorf("got %v, want both pods", got.Bytes)
				}
				return
			}
			if err == nil {
				t.Fatalf("an answer of %d bytes over a cap of %d was accepted (%d pods)", len(tc.body), limit, len(got.Bytes))
			}
			if r := FailureReason(err); r != "bad_response" {
				t.Errorf("failure reason = %q, want bad_response (error: %v)", r, err)
			}
			if want := "Prometheus response larger than 1 MiB"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "query prometheus: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}
