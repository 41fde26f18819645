package benchmem

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/memhpa/memhpa/scaler/internal/controller"

	"github.com/memhpa/memhpa/scaler/internal/gen"
)

// TestPodServer checks the stand-in apiserver: client-go lists from it and
// its informer syncs through the watch-list stream, in JSON and protobuf.
func TestPodServer(t *testing.T) {
	const n = 200
	srv := NewPodServer(n)
	defer srv.Close()
	for _, ct := range []string{k8sruntime.ContentTypeJSON, k8sruntime.ContentTypeProtobuf} {
		t.Run(ct, func(t *testing.T) {
			cfg := &rest.Config{Host: srv.URL}
			cfg.ContentType = ct
			client := kubernetes.NewForConfigOrDie(cfg)
			list, err := client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != n || list.Items[7].Name != gen.RealisticPod(7).Name || list.Items[7].Spec.Containers[1].Resources.Limits.Memory().String() != "512Mi" {
				t.Fatalf("list: %d pods, want %d realistic ones", len(list.Items), n)
			}
			if proto := srv.Protobuf.Load() > 0; proto != (ct == k8sruntime.ContentTypeProtobuf) {
				t.Errorf("served protobuf: %v, asked for %s", proto, ct)
			}
			lists, watchLists := srv.Lists.Load(), srv.WatchLists.Load()
			// CacheFromServer checks that the informer holds all n pods.
			if _, err := CacheFromServer(context.Background(), srv.URL, ct, n, controller.TransformPod); err != nil {
				t.Fatal(err)
			}
			if srv.Lists.Load() != lists || srv.WatchLists.Load() != watchLists+1 {
				t.Errorf("informer made %d lists and %d watch-lists, want 0 and 1",
					srv.Lists.Load()-lists, srv.WatchLists.Load()-watchLists)
			}
		})
	}
}

// rssVariants are the ways of caching pods BenchmarkScalerRSS compares, each
// in a fresh child process: the scaler today (JSON, transform), without the
// transform (baseline), with protobuf for pods, with a GOMEMLIMIT, and
// against an apiserver without WatchList (a plain list).
var rssVariants = []struct {
	name, contentType string
	transform         bool
	env               []string
}{
	{name: "idle"},
	{name: "json-plain", contentType: k8sruntime.ContentTypeJSON},
	{name: "json-transform", contentType: k8sruntime.ContentTypeJSON, transform: true},
	{name: "protobuf-plain", contentType: k8sruntime.ContentTypeProtobuf},
	{name: "protobuf-transform", contentType: k8sruntime.ContentTypeProtobuf, transform: true},
	{name: "protobuf-transform-gomemlimit", contentType: k8sruntime.ContentTypeProtobuf, transform: true, env: []string{"GOMEMLIMIT=48MiB"}},
	{name: "json-transform-list", contentType: k8sruntime.ContentTypeJSON, transform: true, env: []string{"KUBE_FEATURE_WatchListClient=false"}},
}

// BenchmarkScalerRSS reports the resident memory of a process that caches
// 10,000 pods from a PodServer through client-go, per variant, the variants
// run alternately. Run with -benchtime=1x -count=3.
func BenchmarkScalerRSS(b *testing.B) {
	const n = 10000
	srv := NewPodServer(n)
	defer srv.Close()
	for b.Loop() {
		for _, v := range rssVariants {
			m, err := runChild(srv.URL, n, v.contentType, v.transform, v.env)
			if err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			b.ReportMetric(float64(m.PeakRSS)/(1<<20), "MiB-peak-"+v.name)
			b.ReportMetric(float64(m.RSS)/(1<<20), "MiB-rss-"+v.name)
			b.ReportMetric(float64(m.Heap)/(1<<20), "MiB-heap-"+v.name)
		}
	}
}

func runChild(url string, n int, contentType string, transform bool, env []string) (ProcessMemory, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcessMemoryChild$", "-test.v")
	cmd.Env = append(os.Environ(), "MEMHPA_RSS_URL="+url, "MEMHPA_RSS_N="+strconv.Itoa(n),
		"MEMHPA_RSS_CONTENT_TYPE="+contentType, "MEMHPA_RSS_TRANSFORM="+strconv.FormatBool(transform))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return ProcessMemory{}, fmt.Errorf("child: %w\n%s", err, out)
	}
	return ParseProcessMemory(string(out))
}

// TestProcessMemoryChild is BenchmarkScalerRSS's child process; it skips
// unless the benchmark started it.
func TestProcessMemoryChild(t *testing.T) {
	url := os.Getenv("MEMHPA_RSS_URL")
	if url == "" {
		t.Skip("the child process of BenchmarkScalerRSS")
	}
	ct := os.Getenv("MEMHPA_RSS_CONTENT_TYPE")
	if ct == "" { // idle: the process without an informer
		peak, rss, err := procRSS()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(ProcessMemory{PeakRSS: peak, RSS: rss, Heap: liveHeap()})
		return
	}
	n, err := strconv.Atoi(os.Getenv("MEMHPA_RSS_N"))
	if err != nil {
		t.Fatal(err)
	}
	var transform cache.TransformFunc
	if os.Getenv("MEMHPA_RSS_TRANSFORM") == "true" {
		transform = controller.TransformPod
	}
	m, err := CacheFromServer(context.Background(), url, ct, n, transform)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(m)
}
