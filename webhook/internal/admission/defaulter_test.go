package admission

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

type op = map[string]any

func TestDefaulter(t *testing.T) {
	scale := memhpagen.WithMode(v1alpha1.ScalingModeScale)
	const head = `{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"web","namespace":"default"},`
	tests := []struct {
		name    string
		body    []byte
		wantOps []op // nil: no patch
		// wantDenied is the HTTP code of a refusal.
		wantDenied int32
		wantWarn   bool
	}{
		{name: "min and target unset",
			body: reviewJSON(t, admissionv1.Create, head+`"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":5}}`, nil),
			wantOps: []op{
				{"op": "add", "path": "/spec/minReplicas", "value": 1.0},
				{"op": "add", "path": "/spec/mode", "value": "Scale"},
				{"op": "add", "path": "/spec/targetUtilizationPercentage", "value": 80.0}}},
		{name: "apiVersion missing for a Deployment",
			body:    reviewJSON(t, admissionv1.Create, head+`"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":5,"minReplicas":2,"targetUtilizationPercentage":70,"mode":"Scale"}}`, nil),
			wantOps: []op{{"op": "add", "path": "/spec/scaleTargetRef/apiVersion", "value": "apps/v1"}}},
		{name: "apiVersion empty for a StatefulSet",
			body:    reviewJSON(t, admissionv1.Create, head+`"spec":{"scaleTargetRef":{"apiVersion":"","kind":"StatefulSet","name":"db"},"maxReplicas":5,"minReplicas":2,"targetUtilizationPercentage":70,"mode":"DryRun"}}`, nil),
			wantOps: []op{{"op": "replace", "path": "/spec/scaleTargetRef/apiVersion", "value": "apps/v1"}}},
		{name: "apiVersion missing for a custom kind is left to validation",
			body: reviewJSON(t, admissionv1.Create, head+`"spec":{"scaleTargetRef":{"kind":"Rollout","name":"web"},"maxReplicas":5,"minReplicas":2,"targetUtilizationPercentage":70,"mode":"Scale"}}`, nil)},
		{name: "null min is replaced",
			body:    reviewJSON(t, admissionv1.Create, head+`"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":5,"minReplicas":null,"targetUtilizationPercentage":70,"mode":"Scale"}}`, nil),
			wantOps: []op{{"op": "replace", "path": "/spec/minReplicas", "value": 1.0}}},
		{name: "no spec at all gets one with the defaults",
			body:    reviewJSON(t, admissionv1.Create, `{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"web"}}`, nil),
			wantOps: []op{{"op": "add", "path": "/spec", "value": map[string]any{"minReplicas": 1.0, "mode": "Scale", "targetUtilizationPercentage": 80.0}}}},
		{name: "fields this version does not know are kept",
			body: reviewJSON(t, admissionv1.Create, head+`"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":5,"future":{"a":1}},"status":{"x":1}}`, nil),
			wantOps: []op{
				{"op": "add", "path": "/spec/minReplicas", "value": 1.0},
				{"op": "add", "path": "/spec/mode", "value": "Scale"},
				{"op": "add", "path": "/spec/targetUtilizationPercentage", "value": 80.0}}},
		{name: "everything set: no patch", body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMin(2), memhpagen.WithTarget(70), scale), nil)},
		{name: "mode unset is Scale",
			body:    reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMin(2), memhpagen.WithTarget(70)), nil),
			wantOps: []op{{"op": "add", "path": "/spec/mode", "value": "Scale"}}},
		{name: "mode DryRun is kept", body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMin(2), memhpagen.WithTarget(70), memhpagen.DryRun()), nil)},
		{name: "invalid values are not the defaulter's business", body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMin(0), memhpagen.WithTarget(0), memhpagen.WithMax(-1), memhpagen.WithMode("Shadow")), nil)},
		{name: "update is defaulted too",
			body:    reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", memhpagen.WithTarget(70), scale), memhpagen.MemHpa("web", memhpagen.WithMin(1), memhpagen.WithTarget(70))),
			wantOps: []op{{"op": "add", "path": "/spec/minReplicas", "value": 1.0}}},
		{name: "generateName without a name yet", body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithGenerateName("web-"), memhpagen.WithMin(2), scale), nil),
			wantOps: []op{{"op": "add", "path": "/spec/targetUtilizationPercentage", "value": 80.0}}},
		{name: "status subresource is left alone", body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web"), memhpagen.MemHpa("web"), subresource("status"))},
		{name: "delete is allowed", body: reviewJSON(t, admissionv1.Delete, nil, memhpagen.MemHpa("web"))},
		{name: "another kind is let by with a warning",
			body:     reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil, kind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})),
			wantWarn: true},
		{name: "object of the wrong shape is refused",
			body:       reviewJSON(t, admissionv1.Create, head+`"spec":{"minReplicas":"two"}}`, nil),
			wantDenied: http.StatusBadRequest},
		{name: "object not a JSON object is refused", body: reviewJSON(t, admissionv1.Create, `[]`, nil), wantDenied: http.StatusBadRequest},
		{name: "create without an object is refused", body: reviewJSON(t, admissionv1.Create, nil, nil), wantDenied: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := review(t, NewDefaulter(), tt.body)
			if tt.wantDenied != 0 {
				if resp.Allowed || resp.Result == nil || resp.Result.Code != tt.wantDenied {
					t.Fatalf("response = %+v, want a refusal with code %d", resp, tt.wantDenied)
				}
				return
			}
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			if (len(resp.Warnings) > 0) != tt.wantWarn {
				t.Errorf("warnings = %q, want some: %v", resp.Warnings, tt.wantWarn)
			}
			if tt.wantOps == nil {
				if resp.Patch != nil || resp.PatchType != nil {
					t.Fatalf("patch = %s (type %v), want none", resp.Patch, resp.PatchType)
				}
				return
			}
			if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Errorf("patch type = %v, want JSONPatch", resp.PatchType)
			}
			var got []op
			if err := json.Unmarshal(resp.Patch, &got); err != nil {
				t.Fatalf("patch %s: %v", resp.Patch, err)
			}
			if !reflect.DeepEqual(got, tt.wantOps) {
				t.Errorf("patch ops\n got %v\nwant %v", got, tt.wantOps)
			}
			assertPatchSettles(t, tt.body, resp.Patch)
		})
	}
}

// assertPatchSettles applies patch to the object of body, as the apiserver
// does, and checks that asking again gives no patch.
func assertPatchSettles(t *testing.T, body, patch []byte) {
	t.Helper()
	rev, err := DecodeReview(body)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decode patch %s: %v", patch, err)
	}
	patched, err := p.Apply(rev.Request.Object.Raw)
	if err != nil {
		t.Fatalf("apply patch %s to %s: %v", patch, rev.Request.Object.Raw, err)
	}
	again, err := DefaultingPatch(patched)
	if err != nil || again != nil {
		t.Errorf("defaulting the patched object again = %s, %v; want no patch", again, err)
	}
}

func TestDefaulterNilRequest(t *testing.T) {
	resp := NewDefaulter().Review(t.Context(), nil)
	if resp == nil || resp.Allowed || resp.Result.Code != http.StatusBadRequest {
		t.Fatalf("Review(nil) = %+v, want a 400 refusal", resp)
	}
}

func TestDiffJSONEscapesKeys(t *testing.T) {
	from := map[string]any{"a/b": map[string]any{"c~d": 1.0}}
	to := map[string]any{"a/b": map[string]any{"c~d": 2.0}, "e": []any{1.0}}
	ops := diffJSON(from, to, nil)
	got, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"replace","path":"/a~1b/c~0d","value":2},{"op":"add","path":"/e","value":[1]}]`
	if string(got) != want {
		t.Errorf("ops = %s, want %s", got, want)
	}
	p, err := jsonpatch.DecodePatch(got)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, _ := json.Marshal(from)
	toJSON, _ := json.Marshal(to)
	patched, err := p.Apply(fromJSON)
	if err != nil || !jsonpatch.Equal(patched, toJSON) {
		t.Errorf("applied = %s, %v; want %s", patched, err, toJSON)
	}
}

// DefaultingPatch compares the specs alone only while defaulting changes
// nothing else; any other change makes it compare the whole objects.
func TestOnlySpecChanged(t *testing.T) {
	obj := memhpagen.MemHpa("web", memhpagen.WithLabels(map[string]string{"team": "a"}))
	tests := []struct {
		name   string
		change func(*v1alpha1.MemHpa)
		want   bool
	}{
		{name: "nothing", change: func(*v1alpha1.MemHpa) {}, want: true},
		{name: "the spec", change: func(m *v1alpha1.MemHpa) { m.Spec.MaxReplicas++ }, want: true},
		{name: "a label", change: func(m *v1alpha1.MemHpa) { m.Labels["team"] = "b" }, want: false},
		{name: "the status", change: func(m *v1alpha1.MemHpa) { m.Status.CurrentReplicas = 3 }, want: false},
		{name: "the spec and an annotation", change: func(m *v1alpha1.MemHpa) {
			m.Spec.MaxReplicas++
			m.Annotations = map[string]string{"a": "b"}
		}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defaulted := obj.DeepCopy()
			tt.change(defaulted)
			if got := onlySpecChanged(obj, defaulted); got != tt.want {
				t.Errorf("onlySpecChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
