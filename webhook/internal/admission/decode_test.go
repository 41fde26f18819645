package admission

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"

	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

func TestDecodeReview(t *testing.T) {
	valid := string(reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil))
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "valid", body: valid},
		{name: "empty", body: " \n", wantErr: "empty body"},
		{name: "not JSON", body: "<html>", wantErr: "decode admission review"},
		{name: "a JSON array", body: "[1]", wantErr: "decode admission review"},
		{name: "v1beta1", body: strings.Replace(valid, `"admission.k8s.io/v1"`, `"admission.k8s.io/v1beta1"`, 1),
			wantErr: `got apiVersion "admission.k8s.io/v1beta1" kind "AdmissionReview"`},
		{name: "another kind", body: strings.Replace(valid, `"kind":"AdmissionReview"`, `"kind":"Status"`, 1),
			wantErr: `kind "Status"`},
		{name: "no type meta", body: `{"request":{"uid":"1"}}`, wantErr: `got apiVersion "" kind ""`},
		{name: "no request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantErr: "no request"},
		{name: "request without uid", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`,
			wantErr: "no uid"},
		{name: "field of the wrong type", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`,
			wantErr: "decode admission review"},
		{name: "keys are case-sensitive", body: `{"APIVERSION":"admission.k8s.io/v1","Kind":"AdmissionReview","request":{"uid":"1"}}`,
			wantErr: `got apiVersion ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			review, err := DecodeReview([]byte(tt.body))
			// The validator's decoder fails as DecodeReview does, word for word.
			objects, objectsErr := DecodeReviewObjects([]byte(tt.body))
			if fmt.Sprint(objectsErr) != fmt.Sprint(err) || (objects == nil) != (review == nil) {
				t.Errorf("DecodeReviewObjects = %v, %v; DecodeReview = %v, %v", objects != nil, objectsErr, review != nil, err)
			}
			if tt.wantErr == "" {
				if err != nil || review == nil || review.Request.UID != testUID {
					t.Fatalf("DecodeReview = %v, %v; want the review", review, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeReview error = %v, want one containing %q", err, tt.wantErr)
			}
			if review != nil {
				t.Errorf("DecodeReview returned a review with its error")
			}
		})
	}
}

// DecodeReviewObjects hands the validator its objects as MemHpas decoded in
// the review's pass, the same MemHpas the raw bytes decode to; a body whose
// one pass fails is decoded as DecodeReview does, raw objects and all.
func TestDecodeReviewObjects(t *testing.T) {
	obj := memhpagen.MemHpa("web", memhpagen.WithMin(2), memhpagen.WithLabels(map[string]string{"app": "web"}))
	old := memhpagen.MemHpa("web")
	// Every kind of field a stored MemHpa has: times, quantities, managed
	// fields, owner references, a behavior, a status with conditions.
	full := memhpagen.MemHpa("web", memhpagen.WithLabels(map[string]string{"app": "web"}), memhpagen.WithAnnotations(map[string]string{"a": "ü\u0000"}),
		memhpagen.WithFinalizers("x/y"), memhpagen.Deleting(), memhpagen.WithGeneration(3), memhpagen.WithUID("uid-1"), memhpagen.WithResourceVersion("9"),
		memhpagen.WithContainer("app"), memhpagen.WithMaxContainerUtilization(90), memhpagen.WithCPUTarget(50), memhpagen.DryRun(),
		memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(0), memhpagen.Select("Max"), memhpagen.Policies(memhpagen.Policy("Pods", 4, 15)), memhpagen.Tolerance("0.05")),
			memhpagen.Rules(memhpagen.Window(300), memhpagen.Policies(memhpagen.Policy("Percent", 50, 60)))),
		memhpagen.WithStatus(v1alpha1.MemHpaStatus{ObservedGeneration: ptr.To[int64](3), CurrentReplicas: 4, DesiredReplicas: 5, LastScaleTime: &metav1.Time{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
			Conditions: []metav1.Condition{{Type: "AbleToScale", Status: metav1.ConditionTrue, Reason: "SucceededRescale", Message: "m", LastTransitionTime: metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))}}}))
	full.CreationTimestamp = metav1.NewTime(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	full.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-0", Controller: ptr.To(true)}}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "autoscaling.memhpa.io/v1alpha1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:maxReplicas":{}}}`)}}}
	head := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},"operation":"CREATE",`
	tests := []struct {
		name string
		body []byte
		// wantObject, wantOld: decoded in one pass (nil: not there);
		// wantRaw: left raw, the one pass having failed.
		wantObject, wantOld *v1alpha1.MemHpa
		wantRaw             bool
	}{
		{name: "create", body: reviewJSON(t, admissionv1.Create, obj, nil), wantObject: obj},
		{name: "update", body: reviewJSON(t, admissionv1.Update, obj, old), wantObject: obj, wantOld: old},
		{name: "every kind of field", body: reviewJSON(t, admissionv1.Update, full, obj), wantObject: full, wantOld: obj},
		// encoding/json/v2 refuses what sigs.k8s.io/json takes: these are
		// decoded as DecodeReview decodes them.
		{name: "a repeated name", body: []byte(head + `"object":{"spec":{"maxReplicas":3,"maxReplicas":4}}}}`), wantRaw: true},
		{name: "invalid UTF-8", body: []byte(head + `"object":{"metadata":{"labels":{"a":"` + "\xff" + `"}}}}}`), wantRaw: true},
		{name: "delete", body: reviewJSON(t, admissionv1.Delete, nil, old), wantOld: old},
		{name: "null objects", body: []byte(head + `"object":null,"oldObject":null}}`)},
		{name: "an object that is not an object", body: []byte(head + `"object":"not an object"}}`), wantRaw: true},
		{name: "a wrongly typed field", body: []byte(head + `"object":{"spec":{"maxReplicas":"three"}}}}`), wantRaw: true},
		{name: "a wrongly typed field after the object", body: []byte(head + `"object":{},"dryRun":"yes"}}`), wantRaw: true},
		{name: "another kind whose object is no MemHpa",
			body: []byte(strings.Replace(head, `"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"`, `"group":"","version":"v1","kind":"Pod"`, 1) +
				`"object":{"apiVersion":"v1","kind":"Pod","spec":{"minReplicas":[]}}}}`), wantRaw: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, rawErr := DecodeReview(tt.body)
			got, err := DecodeReviewObjects(tt.body)
			if rawErr != nil {
				if fmt.Sprint(err) != rawErr.Error() {
					t.Fatalf("DecodeReviewObjects error = %v, want DecodeReview's %v", err, rawErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeReviewObjects: %v", err)
			}
			if tt.wantRaw {
				if !reflect.DeepEqual(got, raw) {
					t.Fatalf("got %+v, want DecodeReview's %+v", got.Request, raw.Request)
				}
				return
			}
			for _, o := range []struct {
				what string
				ext  runtime.RawExtension
				want *v1alpha1.MemHpa
			}{{"object", got.Request.Object, tt.wantObject}, {"oldObject", got.Request.OldObject, tt.wantOld}} {
				if len(o.ext.Raw) > 0 {
					t.Errorf("%s left raw: %s", o.what, o.ext.Raw)
				}
				decoded, _ := o.ext.Object.(*v1alpha1.MemHpa)
				if o.want == nil {
					if o.ext.Object != nil {
						t.Errorf("%s = %+v, want none", o.what, o.ext.Object)
					}
					continue
				}
				if decoded == nil || !apiequality.Semantic.DeepEqual(decoded, o.want) {
					t.Errorf("%s = %#v, want %#v", o.what, o.ext.Object, o.want)
				}
			}
			// The rest of the request is DecodeReview's.
			want := raw.Request.DeepCopy()
			want.Object, want.OldObject = got.Request.Object, got.Request.OldObject
			if !reflect.DeepEqual(got.Request, want) {
				t.Errorf("request = %+v, want %+v", got.Request, want)
			}
		})
	}
}

// BenchmarkDecodeReviewObjects compares, on the review of make bench
// (../server/testdata/validate-review.json), the validator's one-pass decoder
// (encoding/json/v2) with the same pass by sigs.k8s.io/json, the decoder of
// DecodeReview, and with DecodeReview followed by a decode of the object.
func BenchmarkDecodeReviewObjects(b *testing.B) {
	body, err := os.ReadFile("../server/testdata/validate-review.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name   string
		decode func() error
	}{
		{"json-v2-one-pass", func() error { _, err := DecodeReviewObjects(body); return err }},
		{"sigs-json-one-pass", func() error { return utiljson.Unmarshal(body, &objectsReview{}) }},
		{"review-then-object", func() error {
			review, err := DecodeReview(body)
			if err != nil {
				return err
			}
			_, err = decodeMemHpa(review.Request.Object, review.Request)
			return err
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bm.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
