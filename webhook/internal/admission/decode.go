package admission

import (
	"bytes"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// DecodeReview parses body as an admission.k8s.io/v1 AdmissionReview that
// carries a request with a UID. Its errors say what is wrong with the body;
// the server answers them with 400 Bad Request.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("decode admission review: empty body")
	}
	review := &admissionv1.AdmissionReview{}
	// Case-sensitive, as the apiserver decodes.
	if err := utiljson.Unmarshal(body, review); err != nil {
		return nil, fmt.Errorf("decode admission review: %w", err)
	}
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
