package admission

import (
	"context"
	"reflect"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// FuzzAdmission drives the whole request path the server runs, decode →
// default → apply the patch → validate, with arbitrary bodies. The seed
// corpus is in testdata/fuzz/FuzzAdmission; run it longer with
// `go test -run '^$' -fuzz FuzzAdmission -fuzztime 60s ./internal/admission/`.
func FuzzAdmission(f *testing.F) {
	rv := memhpagen.WithResourceVersion("7")
	for _, body := range [][]byte{
		reviewJSON(f, admissionv1.Create, memhpagen.MemHpa("web"), nil),
		reviewJSON(f, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithRef("", "Deployment", "web"), memhpagen.WithMin(0), memhpagen.WithTarget(101)), nil),
		reviewJSON(f, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithBehavior(
			memhpagen.Rules(memhpagen.Window(-1), memhpagen.Select("x"), memhpagen.Policies(memhpagen.Policy("Pods", 0, 4000)), memhpagen.Tolerance("-1")), memhpagen.Rules(memhpagen.Policies()))), nil),
		reviewJSON(f, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithMax(3)), memhpagen.MemHpa("web", rv)),
		reviewJSON(f, admissionv1.Update, memhpagen.MemHpa("web", rv), memhpagen.MemHpa("web", rv), subresource("status")),
		reviewJSON(f, admissionv1.Delete, nil, memhpagen.MemHpa("web")),
	} {
		f.Add(body)
	}
	defaulter := NewDefaulter()
	f.Fuzz(func(t *testing.T, body []byte) {
		review, err := DecodeReview(body)
		if err != nil {
			return
		}
		req := review.Request
		ctx := context.Background()

		resp := defaulter.Review(ctx, req)
		checkResponse(t, "defaulter", req, resp)
		validated := req
		if len(resp.Patch) > 0 {
			if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patch without the JSONPatch type: %v", resp.PatchType)
			}
			patch, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				t.Fatalf("patch %s does not decode: %v", resp.Patch, err)
			}
			patched, err := patch.Apply(req.Object.Raw)
			if err != nil {
				t.Fatalf("patch %s does not apply to %s: %v", resp.Patch, req.Object.Raw, err)
			}
			if again, err := DefaultingPatch(patched); err != nil || again != nil {
				t.Fatalf("defaulting is not idempotent: %s gives %s, %v", patched, again, err)
			}
			validated = req.DeepCopy()
			validated.Object.Raw = patched
		} else if resp.PatchType != nil {
			t.Fatalf("patch type %v without a patch", *resp.PatchType)
		}

		got := NewValidator(fuzzLookup(), time.Second).Review(ctx, validated)
		checkResponse(t, "validator", validated, got)

		// Validation judges an undefaulted object as its defaulted self.
		if req.Operation == admissionv1.Create && validated != req && resp.Allowed {
			before := NewValidator(fuzzLookup(), time.Second).Review(ctx, req)
			if before.Allowed != got.Allowed || !reflect.DeepEqual(causes(before), causes(got)) {
				t.Fatalf("defaulting changed the verdict: before %+v, after %+v", before.Result, got.Result)
			}
		}
	})
}

func checkResponse(t *testing.T, who string, req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	if resp == nil {
		t.Fatalf("%s: nil response", who)
	}
	if resp.UID != req.UID {
		t.Fatalf("%s: UID %q, want %q", who, resp.UID, req.UID)
	}
	if resp.Allowed {
		return
	}
	if resp.Result == nil || resp.Result.Status != metav1.StatusFailure || resp.Result.Code == 0 || resp.Result.Message == "" {
		t.Fatalf("%s: refusal without a full status: %+v", who, resp.Result)
	}
	if resp.Result.Reason == metav1.StatusReasonInvalid && (resp.Result.Details == nil || len(resp.Result.Details.Causes) == 0) {
		t.Fatalf("%s: Invalid without causes: %+v", who, resp.Result)
	}
	if resp.Patch != nil {
		t.Fatalf("%s: refusal with a patch", who)
	}
}

func causes(resp *admissionv1.AdmissionResponse) []metav1.StatusCause {
	if resp.Result == nil || resp.Result.Details == nil {
		return nil
	}
	return resp.Result.Details.Causes
}

// fuzzLookup has a little of everything the checks look at.
func fuzzLookup() *FakeLookup {
	return &FakeLookup{
		MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("other", memhpagen.WithRef("apps/v1", "Deployment", "api"))},
		HPAItems:    []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("db", "apps/v1", "StatefulSet", "db")},
		Templates:   workload("web", memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""), memhpagen.Container("proxy", "", ""))),
	}
}
