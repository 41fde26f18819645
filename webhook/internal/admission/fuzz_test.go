package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

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
		reviewJSON(f, admissionv1.Create, `"not an object"`, nil),
		reviewJSON(f, admissionv1.Update, `{"spec":{"maxReplicas":"three"}}`, memhpagen.MemHpa("web")),
		reviewJSON(f, admissionv1.Update, memhpagen.MemHpa("web"), `[]`),
		reviewJSON(f, admissionv1.Create, `{"spec":{"containers":[{"name":"app"}]}}`, nil, kind(corev1.SchemeGroupVersion.WithKind("Pod"))),
	} {
		f.Add(body)
	}
	defaulter := NewDefaulter()
	f.Fuzz(func(t *testing.T, body []byte) {
		review, err := DecodeReview(body)
		// The validator's decoder (objects in the review's pass) fails as
		// DecodeReview does, and its requests get the same answers.
		objects, objectsErr := DecodeReviewObjects(body)
		if fmt.Sprint(objectsErr) != fmt.Sprint(err) {
			t.Fatalf("DecodeReviewObjects error %v, DecodeReview's %v", objectsErr, err)
		}
		if err != nil {
			return
		}
		req := review.Request
		ctx := context.Background()
		sameRequest(t, req, objects.Request)
		if !repeatsObjectKey(body) {
			raw, one := NewValidator(fuzzLookup(), time.Second).Review(ctx, req), NewValidator(fuzzLookup(), time.Second).Review(ctx, objects.Request)
			if !reflect.DeepEqual(raw, one) {
				t.Fatalf("the validator answers the objects decoded with the review %+v, decoded from their bytes %+v", one, raw)
			}
		}

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

// sameRequest fails t unless one, a request of DecodeReviewObjects, is raw,
// a request of DecodeReview, with each object that one decoded in its pass
// equal to the MemHpa the raw bytes decode to (sigs.k8s.io/json, as the
// validator decodes them), and every other field the same.
func sameRequest(t *testing.T, raw, one *admissionv1.AdmissionRequest) {
	t.Helper()
	want := raw.DeepCopy()
	for _, o := range []struct {
		what      string
		raw, want *runtime.RawExtension
		got       runtime.RawExtension
	}{{"object", &raw.Object, &want.Object, one.Object}, {"oldObject", &raw.OldObject, &want.OldObject, one.OldObject}} {
		decoded, ok := o.got.Object.(*v1alpha1.MemHpa)
		if !ok {
			continue // left raw: compared below as bytes
		}
		if len(o.got.Raw) > 0 {
			t.Fatalf("%s decoded in the review's pass and also left raw: %s", o.what, o.got.Raw)
		}
		fromRaw := &v1alpha1.MemHpa{}
		if len(o.raw.Raw) > 0 {
			if err := utiljson.Unmarshal(o.raw.Raw, fromRaw); err != nil {
				t.Fatalf("%s decoded in the review's pass as %+v, but its bytes %s do not decode: %v", o.what, decoded, o.raw.Raw, err)
			}
		}
		if !apiequality.Semantic.DeepEqual(decoded, fromRaw) {
			t.Fatalf("%s decoded in the review's pass as %#v, from its bytes as %#v", o.what, decoded, fromRaw)
		}
		*o.want = o.got
	}
	if !reflect.DeepEqual(one, want) {
		t.Fatalf("the one-pass request %+v, DecodeReview's %+v", one, want)
	}
}

// repeatsObjectKey tells whether the request of body (a JSON document) holds
// its "object" or "oldObject" key more than once. There the decoders differ,
// and need not agree: encoding/json merges a repeated object into the MemHpa
// decoded so far, where a RawExtension keeps the last bytes (and a later null
// keeps the earlier ones). The apiserver never repeats a key: it encodes the
// review from a Go struct.
func repeatsObjectKey(body []byte) bool {
	type frame struct {
		object, wantKey bool
		key             string
	}
	var stack []frame
	counts := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
				continue
			}
			stack = stack[:top]
			top--
		case string:
			if top >= 0 && stack[top].wantKey {
				stack[top].key, stack[top].wantKey = t, false
				if top == 1 && stack[0].key == "request" {
					counts[t]++
				}
				continue
			}
		}
		// A value has ended: its object's next token is a key.
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
	return counts["object"] > 1 || counts["oldObject"] > 1
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

func TestRepeatsObjectKey(t *testing.T) {
	for body, want := range map[string]bool{
		`{"request":{"uid":"u","object":{"object":1,"a":[{"object":2}]},"oldObject":{}}}`:    false,
		`{"request":{"object":{},"object":null}}`:                                            true,
		`{"request":{"obj\u0065ct":{},"object":{}}}`:                                         true,
		`{"request":{"object":{}},"request":{"object":{}}}`:                                  true,
		`{"request":{"kind":{"kind":"x"},"oldObject":[1,{"oldObject":2}],"oldObject":null}}`: true,
		`{"response":{"object":{},"object":{}}}`:                                             false,
	} {
		if got := repeatsObjectKey([]byte(body)); got != want {
			t.Errorf("repeatsObjectKey(%s) = %v, want %v", body, got, want)
		}
	}
}
