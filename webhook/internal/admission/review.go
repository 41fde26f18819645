package admission

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Reviewer turns one admission request into its response. The response is
// never nil and always carries the request's UID.
type Reviewer interface {
	Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse
}

// memHpaKind is the kind this package reviews; the webhook configurations send
// no other (matchPolicy Equivalent converts other versions to this one).
var memHpaKind = v1alpha1.SchemeGroupVersion.WithKind("MemHpa")

func allow(uid types.UID, warnings ...string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: true, Warnings: warnings}
}

func deny(uid types.UID, status metav1.Status, warnings ...string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &status, Warnings: warnings}
}

func badRequest(uid types.UID, format string, args ...any) *admissionv1.AdmissionResponse {
	return deny(uid, apierrors.NewBadRequest(fmt.Sprintf(format, args...)).Status())
}

// triage answers the requests that need no look at the object: a nil request,
// another kind, and operations other than create and update of the object
// itself (DELETE and CONNECT are never blocked). It returns nil when the
// request is a create or update of a MemHpa or of one of its subresources.
func triage(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req == nil {
		return badRequest("", "admission review has no request")
	}
	if gvk := schema.GroupVersionKind(req.Kind); gvk != memHpaKind {
		// Not ours to judge: the webhook is configured for MemHpas only, and
		// blocking another resource by mistake would be worse than letting it by.
		return allow(req.UID, fmt.Sprintf("memhpa webhook: ignored a request for %s, it only reviews %s", gvk, memHpaKind))
	}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allow(req.UID)
	}
	return nil
}

// decodeMemHpa reads an object of the request: the MemHpa DecodeReviewObjects
// decoded, else its raw JSON. The request's namespace and name fill the
// object's when it has none (a mutating webhook sees no name yet when the
// object uses generateName).
func decodeMemHpa(ext runtime.RawExtension, req *admissionv1.AdmissionRequest) (*v1alpha1.MemHpa, error) {
	obj := &v1alpha1.MemHpa{}
	if decoded, ok := ext.Object.(*v1alpha1.MemHpa); ok && decoded != nil {
		// A shallow copy: the names below must not change the caller's request.
		*obj = *decoded
	} else {
		if len(ext.Raw) == 0 {
			return nil, fmt.Errorf("the request carries no object")
		}
		if err := utiljson.Unmarshal(ext.Raw, obj); err != nil {
			return nil, fmt.Errorf("the object is not a readable MemHpa: %w", err)
		}
	}
	if obj.Namespace == "" {
		obj.Namespace = req.Namespace
	}
	if obj.Name == "" && obj.GenerateName == "" {
		obj.Name = req.Name
	}
	return obj, nil
}
