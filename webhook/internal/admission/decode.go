package admission

import (
	"bytes"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// DecodeReview parses body as an admission.k8s.io/v1 AdmissionReview that
// carries a request with a UID, its objects left as raw JSON (the defaulter
// computes its patch against those bytes). Its errors say what is wrong with
// the body; the server answers them with 400 Bad Request.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("decode admission review: empty body")
	}
	review := &admissionv1.AdmissionReview{}
	// Case-sensitive, as the apiserver decodes.
	if err := utiljson.Unmarshal(body, review); err != nil {
		return nil, fmt.Errorf("decode admission review: %w", err)
	}
	return checkReview(review)
}

// DecodeReviewObjects is DecodeReview for the validator: the request's object
// and old object are decoded as MemHpas in the same pass as the review, and
// travel in Object.Object and OldObject.Object (their Raw stays empty), where
// DecodeReview's caller decodes the review and then each object again (37 %
// of a review's CPU in docs/performance.md, issue 15).
//
// The one pass is encoding/json/v2's (Go 1.27), which decodes a review in
// less than half the time and two fifths of the allocations of the
// sigs.k8s.io/json decoder DecodeReview uses (BenchmarkDecodeReviewObjects).
// Both match names case-sensitively, as the apiserver decodes. Where v2 is
// stricter, it refuses: a repeated name and invalid UTF-8 (which v1 keeps as
// the last value and U+FFFD), never in a review the apiserver encodes.
//
// Only a body that decodes so without any error is answered from that pass.
// Any other is decoded again by DecodeReview, whose objects the validator then
// decodes as before, so that the errors, and which of them is a 400 and which
// an answer refusing the object, stay exactly DecodeReview's: the one-pass
// decoder keeps only the first error of a body and cannot tell whether it is
// the review's or an object's, an object of another kind (which the
// validator lets by unread) need not decode as a MemHpa, and what v2 alone
// refuses is decoded by v1 as before. FuzzAdmission holds the two paths to
// the same request and the same MemHpas.
func DecodeReviewObjects(body []byte) (*admissionv1.AdmissionReview, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("decode admission review: empty body")
	}
	wire := &objectsReview{}
	if err := jsonv2.Unmarshal(body, wire); err != nil {
		return DecodeReview(body)
	}
	review := &wire.AdmissionReview
	if r := wire.Request; r != nil {
		review.Request = &r.AdmissionRequest
		if r.Object != nil {
			review.Request.Object.Object = r.Object
		}
		if r.OldObject != nil {
			review.Request.OldObject.Object = r.OldObject
		}
	}
	return checkReview(review)
}

// objectsReview is an AdmissionReview whose request's objects are MemHpas.
// The fields declared here hide the embedded structs' fields of the same JSON
// name (encoding/json keeps the shallowest), so one decoder call fills all.
type objectsReview struct {
	admissionv1.AdmissionReview
	Request *objectsRequest `json:"request,omitempty"`
}

type objectsRequest struct {
	admissionv1.AdmissionRequest
	Object    *v1alpha1.MemHpa `json:"object,omitempty"`
	OldObject *v1alpha1.MemHpa `json:"oldObject,omitempty"`
}

// checkReview checks what both decoders require of a decoded review.
func checkReview(review *admissionv1.AdmissionReview) (*admissionv1.AdmissionReview, error) {
	gvk := review.GroupVersionKind()
	if gvk != admissionv1.SchemeGroupVersion.WithKind("AdmissionReview") {
		return nil, fmt.Errorf("decode admission review: got apiVersion %q kind %q, want %s AdmissionReview",
			review.APIVersion, review.Kind, admissionv1.SchemeGroupVersion)
	}
	if review.Request == nil {
		return nil, errors.New("decode admission review: no request")
	}
	if review.Request.UID == "" {
		return nil, errors.New("decode admission review: request has no uid")
	}
	return review, nil
}

// ResponseReview wraps resp in the AdmissionReview that the server writes back.
func ResponseReview(resp *admissionv1.AdmissionResponse) *admissionv1.AdmissionReview {
	review := &admissionv1.AdmissionReview{Response: resp}
	review.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	return review
}
