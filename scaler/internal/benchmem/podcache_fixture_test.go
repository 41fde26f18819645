// Package benchmem measures what the scaler's pod cache costs: a real
// SharedIndexInformer over 10,000 realistic pods, with the scaler's transform
// (controller.TransformPod) and, as the baseline in the same run, without it.
// `make bench` runs BenchmarkPodCache and BenchmarkScalerRSS and writes the
// figures to docs/performance.md; `make test` runs only the quick checks.
// Every file is a _test.go file: no binary links this package.
package benchmem

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/memhpa/memhpa/scaler/internal/gen"
)

// CacheBytes fills a pod informer from a fake clientset holding n realistic
// pods, with transform (nil for none), and returns how many bytes of heap the
// informer's cache holds once synced: live heap after a GC with the informer,
// minus live heap before it started. The fake clientset's own copies exist in
// both measurements and cancel out.
func CacheBytes(ctx context.Context, n int, transform cache.TransformFunc) (uint64, error) {
	return CacheProfile(ctx, n, transform, nil, nil)
}

// CacheProfile is CacheBytes that also writes heap profiles (runtime/pprof,
// gzipped protobuf) to base just before the informer starts and to synced once
// it holds every pod; either may be nil. `go tool pprof -diff_base` of the two
// shows what the cache holds, by allocating function. The profiles are as
// fine as runtime.MemProfileRate (go test -memprofilerate).
func CacheProfile(ctx context.Context, n int, transform cache.TransformFunc, base, synced io.Writer) (uint64, error) {
	objs := make([]k8sruntime.Object, 0, n)
	for i := range n {
		objs = append(objs, gen.RealisticPod(i))
	}
	client := fake.NewClientset(objs...)
	objs = nil
	before := liveHeap()
	if err := writeHeapProfile(base); err != nil {
		return 0, err
	}

	informer, stop, err := syncedPodInformer(ctx, client, n, transform)
	if err != nil {
		return 0, err
	}
	defer stop()
	after := liveHeap()
	// The heap profile is as of the last GC, the one liveHeap just ran.
	if err := writeHeapProfile(synced); err != nil {
		return 0, err
	}
	runtime.KeepAlive(informer)
	runtime.KeepAlive(client)
	if after < before {
		return 0, nil
	}
	return after - before, nil
}

// syncedPodInformer starts a pod informer with transform (nil for none) and
// waits until it holds n pods. stop ends it.
func syncedPodInformer(ctx context.Context, client kubernetes.Interface, n int, transform cache.TransformFunc) (cache.SharedIndexInformer, func(), error) {
	opts := []kubeinformers.SharedInformerOption{}
	if transform != nil {
		opts = append(opts, kubeinformers.WithTransform(transform))
	}
	factory := kubeinformers.NewSharedInformerFactoryWithOptions(client, 0, opts...)
	informer := factory.Core().V1().Pods().Informer()
	runCtx, cancel := context.WithCancel(ctx)
	stop := func() {
		cancel()
		factory.Shutdown()
	}
	factory.Start(runCtx.Done())
	if !cache.WaitForCacheSync(runCtx.Done(), informer.HasSynced) {
		stop()
		return nil, nil, fmt.Errorf("pod informer did not sync")
	}
	if got := len(informer.GetStore().ListKeys()); got != n {
		stop()
		return nil, nil, fmt.Errorf("informer holds %d pods, want %d", got, n)
	}
	return informer, stop, nil
}

func writeHeapProfile(w io.Writer) error {
	if w == nil {
		return nil
	}
	if err := pprof.Lookup("heap").WriteTo(w, 0); err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	return nil
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
