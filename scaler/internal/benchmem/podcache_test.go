package benchmem

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/memhpa/memhpa/scaler/internal/controller"
)

// TestTransformShrinksTheCache is the quick, assertion-bearing version of the
// benchmark: on 1,000 realistic pods the transformed cache must be smaller
// than the plain one (the exact ratio is measured by BenchmarkPodCache).
func TestTransformShrinksTheCache(t *testing.T) {
	ctx := context.Background()
	plain, err := CacheBytes(ctx, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	slim, err := CacheBytes(ctx, 1000, controller.TransformPod)
	if err != nil {
		t.Fatal(err)
	}
	if plain == 0 || slim >= plain {
		t.Fatalf("cache of 1000 pods: %d bytes with the transform, %d without; want the transform to shrink it", slim, plain)
	}
	t.Logf("1000 pods: %d KiB without transform, %d KiB with (ratio %.2f)", plain>>10, slim>>10, float64(slim)/float64(plain))
}

// profileDir, when set, makes BenchmarkPodCache write heap profiles of the
// transformed cache: base.pb.gz before the informer starts, transformed.pb.gz
// once it is synced (go tool pprof -diff_base base.pb.gz transformed.pb.gz).
var profileDir = flag.String("cacheprofile", "", "directory for heap profiles of the transformed pod cache")

// BenchmarkPodCache reports the heap held by an informer over 10,000 pods,
// with the scaler's transform and without it (the baseline), run alternately
// in the same process. Run with -benchtime=1x -count=3.
func BenchmarkPodCache(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	for b.Loop() {
		plain, err := CacheBytes(ctx, n, nil)
		if err != nil {
			b.Fatal(err)
		}
		slim, err := transformedCache(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(plain)/(1<<20), "MiB-plain")
		b.ReportMetric(float64(slim)/(1<<20), "MiB-transformed")
		b.ReportMetric(float64(slim)/float64(plain), "ratio")
		b.ReportMetric(float64(slim)/n, "B/pod-transformed")
		b.ReportMetric(float64(plain)/n, "B/pod-plain")
	}
}

func transformedCache(ctx context.Context, n int) (uint64, error) {
	if *profileDir == "" {
		return CacheBytes(ctx, n, controller.TransformPod)
	}
	base, err := os.Create(filepath.Join(*profileDir, "base.pb.gz"))
	if err != nil {
		return 0, err
	}
	defer base.Close()
	synced, err := os.Create(filepath.Join(*profileDir, "transformed.pb.gz"))
	if err != nil {
		return 0, err
	}
	defer synced.Close()
	return CacheProfile(ctx, n, controller.TransformPod, base, synced)
}
