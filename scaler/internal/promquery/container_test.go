package promquery

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

// TestParseKeepsContainers: the one answer also gives each container's own
// figure, for a MemHpa with spec.container (issue 13); a container whose
// figure cannot be used has none, whatever its pod's other containers say.
func TestParseKeepsContainers(t *testing.T) {
	type row struct {
		name string
		in   model.Vector
		want map[Key]map[string]int64
	}
	for _, tc := range []row{
		{name: "empty", want: map[Key]map[string]int64{}},
		{
			name: "each container of each pod",
			in: model.Vector{sample("a", "web-1", "app", 950.4), sample("a", "web-1", "proxy", 100),
				sample("b", "web-1", "app", 7)},
			want: map[Key]map[string]int64{{"a", "web-1"}: {"app": 950, "proxy": 100}, {"b", "web-1"}: {"app": 7}},
		},
		{
			name: "an unusable sidecar figure rejects the pod but not its other container",
			in: model.Vector{sample("a", "web-1", "app", 950), sample("a", "web-1", "proxy", math.NaN()),
				sample("a", "web-2", "app", math.Inf(1)), sample("a", "web-3", "app", -1)},
			want: map[Key]map[string]int64{{"a", "web-1"}: {"app": 950}},
		},
		{
			name: "a duplicated container counts once, at its largest figure",
			in: model.Vector{sample("a", "web-1", "app", 900), sample("a", "web-1", "app", 950),
				seriesCount("a", "web-1", "app", 2)},
			want: map[Key]map[string]int64{{"a", "web-1"}: {"app": 950}},
		},
		{
			name: "only counts came back",
			in:   model.Vector{seriesCount("a", "web-1", "app", 2)},
			want: map[Key]map[string]int64{},
		},
		{
			name: "a figure too large for bytes",
			in:   model.Vector{sample("a", "web-1", "app", 1e300), sample("a", "web-1", "proxy", 5)},
			want: map[Key]map[string]int64{{"a", "web-1"}: {"proxy": 5}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Parse(tc.in).Containers); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInNamespaceKeepsContainers(t *testing.T) {
	s := Parse(model.Vector{sample("a", "web-1", "app", 1), sample("a", "web-1", "proxy", 2), sample("b", "web-1", "app", 3)})
	want := map[string]map[string]int64{"web-1": {"app": 1, "proxy": 2}}
	if diff := cmp.Diff(want, s.InNamespace("a").Containers); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
