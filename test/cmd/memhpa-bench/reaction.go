package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/test/bench"
	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
)

// benchReaction measures, with the scaler running at its default 30 s sync
// period, the time from the create of a MemHpa (the request kubectl apply
// makes) to the scaler's first status write, seen through a watch.
func benchReaction(ctx context.Context, env *harness.Env, o options, p *page) error {
	if _, err := env.ApplyYAML(ctx, workload); err != nil {
		return err
	}
	if err := env.StartScaler(ctx, "--sync-period=30s"); err != nil {
		return err
	}
	defer func() { _ = env.StopComponent(context.Background(), harness.Scaler) }()
	cfg, err := env.RESTConfig()
	if err != nil {
		return err
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mhpas := client.AutoscalingV1alpha1().MemHpas(benchNamespace)
	var took []float64
	for i := range o.runs {
		name := fmt.Sprintf("reaction-%d", i)
		w, err := mhpas.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			return err
		}
		obj := &v1alpha1.MemHpa{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.MemHpaSpec{
				ScaleTargetRef: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 5,
			},
		}
		start := time.Now()
		if _, err := mhpas.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			w.Stop()
			return fmt.Errorf("create %s: %w", name, err)
		}
		var d time.Duration
		deadline := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					w.Stop()
					return fmt.Errorf("watch of %s closed", name)
				}
				if h, ok := ev.Object.(*v1alpha1.MemHpa); ok && h.Status.ObservedGeneration != nil {
					d = time.Since(start)
					break wait
				}
			case <-deadline:
				w.Stop()
				return fmt.Errorf("no status on %s within 2 minutes", name)
			}
		}
		w.Stop()
		fmt.Fprintf(os.Stderr, "[bench] reaction %s: %v\n", name, d)
		took = append(took, msOf(d))
		if err := mhpas.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		// The next MemHpa targets the same Deployment: wait until this one is gone.
		err = harness.Poll(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			_, err := mhpas.Get(ctx, name, metav1.GetOptions{})
			return err != nil && strings.Contains(err.Error(), "not found"), nil
		})
		if err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	med := bench.Median(took)
	var s strings.Builder
	fmt.Fprintf(&s, "## 3. Reaction: from create to the first status write\n\n")
	fmt.Fprintf(&s, "The scaler runs with its default `--sync-period=30s`; a MemHpa is created through the API (the request "+
		"`kubectl apply` makes) and a watch sees the scaler's first status write. Baseline: the Kubernetes HPA, whose "+
		"controller first acts on a new autoscaler after one 15 s sync period.\n\n")
	fmt.Fprintf(&s, "| figure | memhpa | baseline | goal |\n|---|---|---|---|\n")
	fmt.Fprintf(&s, "| create → first status (median) | %s | 15 s (one HPA sync period) | ≤ 1 s: %s |\n\n", ms(med), verdict(med <= 1000))
	fmt.Fprintf(&s, "Per run: %s ms.\n", floats(took))
	p.add(s.String())
	return nil
}
