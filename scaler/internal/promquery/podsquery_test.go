//go:build memhpabench

package promquery

import "testing"

func TestPodsQuery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		namespace string
		pods      []string
		want      string
		wantErr   bool
	}{
		{
			name: "pods sorted and deduplicated", namespace: "web", pods: []string{"b-1", "a-1", "b-1"},
			want: both(`m{container!="", container!="POD", namespace="web", pod=~"a-1|b-1"}`),
		},
		{
			name: "a name cannot widen the match", namespace: "web", pods: []string{"a.*"},
			want: both(`m{container!="", container!="POD", namespace="web", pod=~"a\\.\\*"}`),
		},
		{name: "no pods", namespace: "web", wantErr: true},
		{name: "no namespace", pods: []string{"a"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PodsQuery("m", nil, tc.namespace, tc.pods)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("query =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
