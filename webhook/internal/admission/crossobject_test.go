package admission

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// countingLookup is a FakeLookup that says whether it answers from memory
// and notes the most goroutines running while one of its reads ran.
type countingLookup struct {
	*FakeLookup
	inMemory bool
	panics   bool

	mu   sync.Mutex
	most int
}

func (c *countingLookup) InMemory(string, schema.GroupKind, string) bool { return c.inMemory }

func (c *countingLookup) note() {
	c.mu.Lock()
	c.most = max(c.most, runtime.NumGoroutine())
	c.mu.Unlock()
	if c.panics {
		panic("boom")
	}
}

func (c *countingLookup) MemHpas(ctx context.Context, ns, target string) ([]v1alpha1.MemHpa, error) {
	c.note()
	return c.FakeLookup.MemHpas(ctx, ns, target)
}

func (c *countingLookup) HorizontalPodAutoscalers(ctx context.Context, ns, target string) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	c.note()
	return c.FakeLookup.HorizontalPodAutoscalers(ctx, ns, target)
}

func (c *countingLookup) PodTemplate(ctx context.Context, ns string, gk schema.GroupKind, name string) (*corev1.PodTemplateSpec, error) {
	c.note()
	return c.FakeLookup.PodTemplate(ctx, ns, gk, name)
}

func (c *countingLookup) LimitRanges(ctx context.Context, ns string) ([]corev1.LimitRange, error) {
	c.note()
	return c.FakeLookup.LimitRanges(ctx, ns)
}

// A Lookup that answers from memory is read in the review's goroutine, one
// that may not in goroutines of their own; both read the same, and a panic
// in a read is its error either way.
func TestReadCrossObjectsInlineWhenInMemory(t *testing.T) {
	obj := memhpagen.MemHpa("web")
	fake := func() *FakeLookup {
		return &FakeLookup{
			MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("other")},
			HPAItems:    []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("hpa", "apps/v1", "Deployment", "web")},
			Templates:   workload("web", memhpagen.PodTemplate(memhpagen.Container("app", "", ""))),
		}
	}
	var answers []*crossObjectReads
	for _, tt := range []struct {
		name      string
		inMemory  bool
		wantExtra bool // goroutines beyond the test's own during a read
	}{
		{name: "in memory: inline", inMemory: true},
		{name: "maybe live: a goroutine per read", inMemory: false, wantExtra: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &countingLookup{FakeLookup: fake(), inMemory: tt.inMemory}
			before := runtime.NumGoroutine()
			got := readCrossObjects(t.Context(), l, obj, true)
			if extra := l.most > before; extra != tt.wantExtra {
				t.Errorf("%d goroutines during a read, %d before: extra = %v, want %v", l.most, before, extra, tt.wantExtra)
			}
			if calls := l.Calls(); len(calls) != 4 {
				t.Errorf("reads = %v, want MemHpas, HPAs, the template and the LimitRanges", calls)
			}
			answers = append(answers, got)

			l = &countingLookup{FakeLookup: fake(), inMemory: tt.inMemory, panics: true}
			r := readCrossObjects(t.Context(), l, obj, true)
			for _, err := range []error{r.memHpasErr, r.hpasErr, r.templateErr} {
				if err == nil || !strings.Contains(err.Error(), "read panicked: boom") {
					t.Errorf("a read that panics: error %v, want it to say so", err)
				}
			}
		})
	}
	if len(answers) == 2 && !reflect.DeepEqual(answers[0], answers[1]) {
		t.Errorf("inline reads %+v, in goroutines %+v", answers[0], answers[1])
	}
}

// WithVPAs answers from memory only when both of its parts do.
func TestWithVPAsInMemory(t *testing.T) {
	memory, live := &countingLookup{FakeLookup: &FakeLookup{}, inMemory: true}, &countingLookup{FakeLookup: &FakeLookup{}}
	watcher := &VPAWatcher{}
	for _, tt := range []struct {
		name   string
		lookup Lookup
		want   bool
	}{
		{"lookup and VPA watcher in memory", WithVPAs(memory, watcher), true},
		{"lookup maybe live", WithVPAs(live, watcher), false},
		{"lookup that cannot tell", WithVPAs(&FakeLookup{}, watcher), false},
		{"VPAs of a VPALookup that cannot tell", WithVPAs(memory, vpaFake{}), false},
	} {
		m, ok := tt.lookup.(InMemoryLookup)
		if got := ok && m.InMemory("ns", deploymentGK, "web"); got != tt.want {
			t.Errorf("%s: InMemory = %v, want %v", tt.name, got, tt.want)
		}
	}
}
