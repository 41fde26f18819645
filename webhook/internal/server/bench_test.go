package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	runtimemetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/memhpa/memhpa/webhook/internal/admission"
	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
)

// BenchmarkValidate is the in-process part of `make bench`'s webhook figure,
// for profiling: the same review (testdata/validate-review.json) through the
// /validate handler, the validator and a synced CachedLookup, without TLS and
// the network (a 30s lookup timeout: a starved machine must not turn the answer
// into a warning). "canned" answers a fixed allowed review instead, like the
// benchmark's baseline server. Profile with
//
//	go test -run '^$' -bench Validate -cpuprofile /tmp/webhook-cpu.out ./internal/server/
//	go tool pprof -top -nodecount 30 /tmp/webhook-cpu.out
func BenchmarkValidate(b *testing.B) {
	body, err := os.ReadFile("testdata/validate-review.json")
	if err != nil {
		b.Fatal(err)
	}
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: "registry.example/web:1",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
	}}}}
	kube := kubefake.NewClientset(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "memhpa-bench"}, Spec: appsv1.DeploymentSpec{Template: template},
	})
	memhpa := memhpafake.NewSimpleClientset()
	lookup, err := admission.NewCachedLookup(kube, memhpa, admission.NewClientLookup(kube, memhpa))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lookup.Start(ctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if !lookup.WaitForSync(syncCtx) {
		b.Fatal("caches did not sync")
	}
	cfg := DefaultConfig()
	canned := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"4a1b3c5d-0000-4000-8000-000000000001","allowed":true}}`)

	for _, bm := range []struct {
		name    string
		handler http.Handler
	}{
		{"memhpa", &reviewHandler{name: "validate", reviewer: admission.NewValidator(lookup, 30*time.Second), decode: admission.DecodeReviewObjects, metrics: newMetrics(),
			limits: newReviewLimits(cfg.MaxInFlightReviews, cfg.MaxInFlightBodyBytes), maxTimeout: 30 * time.Second}},
		{"canned", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(canned)
		})},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/validate?timeout=10s", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				bm.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":true`)) || bytes.Contains(rec.Body.Bytes(), []byte(`"warnings"`)) {
					b.Fatalf("answer %d %s, want allowed without warnings", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkFullInFlightCap measures the memory of the largest reviews at the
// limits: as many clients at once as MaxInFlightReviews allows, each sending a
// MemHpa whose annotation brings the body just under MaxBodyBytes to /mutate,
// /validate or both alternately, through the router and the real reviewers,
// with the default limits ("default") and with no byte budget ("count-only",
// what the count alone would let in). It reports the Go heap at rest and at
// its peak, the peak of all memory the Go runtime holds from the OS (the
// closest in-process figure to the container's working set), sampled every
// millisecond, and how many of the clients of a round were admitted (the
// others got 429). Run one row per process, since the runtime gives memory
// back to the OS lazily:
//
//	go test -run '^$' -bench 'FullInFlightCap/default/both' -benchtime 20x ./internal/server/
func BenchmarkFullInFlightCap(b *testing.B) {
	body := bigReview(b, MaxBodyBytes-512)
	for _, limits := range []string{"default", "count-only"} {
		for _, paths := range [][]string{{"/mutate", "/validate"}, {"/mutate"}, {"/validate"}} {
			name := limits + "/" + strings.TrimPrefix(paths[0], "/")
			if len(paths) == 2 {
				name = limits + "/both"
			}
			b.Run(name, func(b *testing.B) {
				cfg := DefaultConfig()
				if limits == "count-only" {
					cfg.MaxInFlightBodyBytes = int64(cfg.MaxInFlightReviews) * MaxBodyBytes
				}
				benchmarkFullCap(b, cfg, paths, body)
			})
		}
	}
}

func benchmarkFullCap(b *testing.B, cfg Config, paths []string, body []byte) {
	handler := New(cfg, admission.NewDefaulter(), admission.NewValidator(nil, 0)).secure.Handler
	var peakHeap, peakTotal uint64
	samples := []runtimemetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	runtime.GC()
	runtimemetrics.Read(samples)
	idleHeap := samples[0].Value.Uint64()
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtimemetrics.Read(samples)
			peakHeap = max(peakHeap, samples[0].Value.Uint64())
			peakTotal = max(peakTotal, samples[1].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var admitted, rounds atomic.Int64
	for b.Loop() {
		rounds.Add(1)
		var wg sync.WaitGroup
		for i := range cfg.MaxInFlightReviews {
			path := paths[i%len(paths)]
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				switch rec.Code {
				case http.StatusOK:
					admitted.Add(1)
				case http.StatusTooManyRequests:
				default:
					b.Errorf("%s: status %d: %.200s", path, rec.Code, rec.Body)
				}
			})
		}
		wg.Wait()
	}
	close(stop)
	<-sampled
	const mib = 1 << 20
	b.ReportMetric(float64(idleHeap)/mib, "idle-heap-MiB")
	b.ReportMetric(float64(peakHeap)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(peakTotal)/mib, "peak-runtime-MiB")
	b.ReportMetric(float64(admitted.Load())/float64(rounds.Load()), "admitted/round")
}

// bigReview is a CREATE review of a valid MemHpa whose annotation pads the
// body to about size bytes.
func bigReview(b testing.TB, size int) []byte {
	b.Helper()
	small := reviewBody(b, "big", admissionv1.Create)
	pad := strings.Repeat("x", size-len(small)-200)
	object := `{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"web","namespace":"default","annotations":{"pad":"` + pad +
		`"}},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":3}}`
	body := bytes.Replace(small, []byte(`{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"web"}}`), []byte(object), 1)
	if len(body) > MaxBodyBytes || len(body) < size-1024 {
		b.Fatalf("review of %d bytes, want about %d", len(body), size)
	}
	return body
}
