package admission

import (
	"context"

	admissionv1 "k8s.io/api/admission/v1"
)

type defaulter struct{}

// NewDefaulter returns the mutating Reviewer: it answers a create or update of
// a MemHpa with the JSON patch that sets its defaults (no patch when nothing
// is missing; applying the patch and asking again gives no patch).
func NewDefaulter() Reviewer { return defaulter{} }

func (defaulter) Review(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if resp := triage(req); resp != nil {
		return resp
	}
	if req.SubResource != "" {
		return allow(req.UID)
	}
	if len(req.Object.Raw) == 0 {
		return badRequest(req.UID, "the request carries no object")
	}
	patch, err := DefaultingPatch(req.Object.Raw)
	if err != nil {
		return badRequest(req.UID, "the object is not a readable MemHpa: %v", err)
	}
	resp := allow(req.UID)
	if len(patch) > 0 {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	return resp
}
