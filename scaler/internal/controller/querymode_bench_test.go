//go:build memhpabench

package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/gen"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
	memhpainformers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
)

func TestPerMemHpaQueryMode(t *testing.T) {
	a := memhpa("web")
	b := memhpa("web")
	b.Namespace = "shop"
	cfg := Config{SyncPeriod: 30 * time.Second, Calc: calc.DefaultConfig()}
	f := newFixtureWith(t, cfg, 3, []*v1alpha1.MemHpa{a, b}, append(pods(3), pods(3, gen.InNamespace("shop"))...)...)
	if err := f.c.SetQueryMode(QueryPerMemHpa); err != nil {
		t.Fatal(err)
	}
	f.use(800, 800, 800)
	for i := range 3 {
		f.source.Set("shop", fmt.Sprintf("web-%d", i), 800)
	}
	f.c.resync(f.ctx)
	for f.c.queue.Len() > 0 {
		f.c.processNextItem(f.ctx, f.ctx)
	}
	want := [][]string{{"default/web-0", "default/web-1", "default/web-2"}, {"shop/web-0", "shop/web-1", "shop/web-2"}}
	got := f.source.Queries()
	slices.SortFunc(got, func(x, y []string) int { return strings.Compare(x[0], y[0]) })
	for _, q := range got {
		slices.Sort(q)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	// The same decision as the batched mode would make.
	if st := f.status(); st.Targets != "80%/80%" {
		t.Errorf("targets = %q, want 80%%/80%%", st.Targets)
	}
}

func TestQueryModes(t *testing.T) {
	for _, tc := range []struct {
		mode    QueryMode
		source  promsource.Source
		wantErr bool
	}{
		{mode: QueryBatched, source: promsource.NewFake()},
		{mode: QueryPerMemHpa, source: promsource.NewFake()},
		{mode: QueryPerMemHpa, source: batchedOnly{}, wantErr: true},
		{mode: "per-pod", source: promsource.NewFake(), wantErr: true},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			mf := memhpainformers.NewSharedInformerFactory(memhpafake.NewSimpleClientset(), 0)
			kf := kubeinformers.NewSharedInformerFactory(kubefake.NewClientset(), 0)
			c, err := New(Deps{
				MemHpas: mf.Autoscaling().V1alpha1().MemHpas(), Pods: kf.Core().V1().Pods(),
				Source: tc.source, Clock: clocktesting.NewFakeClock(start), Monitor: NewMonitor(prometheus.NewRegistry()),
			}, Config{SyncPeriod: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetQueryMode(tc.mode); (err != nil) != tc.wantErr {
				t.Errorf("error = %v, want error %t", err, tc.wantErr)
			}
		})
	}
}

// batchedOnly is a Source that cannot query pods one MemHpa at a time.
type batchedOnly struct{}

func (batchedOnly) WorkingSet(context.Context, []string) (promquery.Samples, error) {
	return promquery.Samples{}, nil
}
