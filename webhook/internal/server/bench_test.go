package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

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
	canned := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"4a1b3c5d-0000-4000-8000-000000000001","allowed":true}}`)

	for _, bm := range []struct {
		name    string
		handler http.Handler
	}{
		{"memhpa", &reviewHandler{name: "validate", reviewer: admission.NewValidator(lookup, 30*time.Second), metrics: newMetrics(), maxTimeout: 30 * time.Second}},
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
