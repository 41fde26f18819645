package admission

import (
	"context"
	"errors"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/validation"
)

// DefaultLookupTimeout bounds the cross-object reads of one admission when
// NewValidator is given no timeout; it stays well inside the webhook
// configuration's timeoutSeconds.
const DefaultLookupTimeout = 2 * time.Second

type validator struct {
	lookup  Lookup
	timeout time.Duration
}

// NewValidator returns the validating Reviewer. It refuses a MemHpa that
// breaks a field rule or targets a workload that another MemHpa or an
// autoscaling/v2 HorizontalPodAutoscaler already scales, answering with an
// Invalid status that has one cause per problem; it warns when the target is
// missing or its containers have no memory limit. The reads through lookup
// (nil: none) together take at most timeout; a read that fails or runs out of
// time admits the object with a warning instead of a check.
//
// Server-side dry-run requests are checked like any other: the reads have no
// side effects, and a dry run should predict the real answer.
func NewValidator(lookup Lookup, timeout time.Duration) Reviewer {
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	return &validator{lookup: lookup, timeout: timeout}
}

func (v *validator) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if resp := triage(req); resp != nil {
		return resp
	}
	obj, err := decodeMemHpa(req.Object, req)
	if err != nil {
		return badRequest(req.UID, "%v", err)
	}
	if req.SubResource != "" {
		return v.reviewSubresource(req, obj)
	}

	var errs field.ErrorList
	crossChecks, ownerChecks := true, true
	if req.Operation == admissionv1.Update {
		old, err := decodeMemHpa(req.OldObject, req)
		if err != nil {
			return badRequest(req.UID, "old object: %v", err)
		}
		errs = validation.ValidateUpdateWithoutMetadata(obj, old)
		// An unchanged spec was judged when it was written; checking it
		// against other objects again could block removing a finalizer.
		crossChecks = validation.SpecChanged(obj, old)
		// Another autoscaler on the same target is refused when the target is
		// chosen, or when a DryRun MemHpa starts to scale: a conflict that
		// already exists (made while the webhook was down) must not block
		// changing maxReplicas or the like.
		ownerChecks = targetOf(obj) != targetOf(old) || (v1alpha1.IsDryRun(&old.Spec) && !v1alpha1.IsDryRun(&obj.Spec))
	} else {
		errs = validation.ValidateWithoutMetadata(obj)
	}
	// A broken reference cannot be compared with other objects.
	if hasErrorUnder(errs, field.NewPath("spec", "scaleTargetRef")) {
		crossChecks = false
	}

	warnings := validation.AnnotationWarnings(obj.Annotations)
	if crossChecks && v.lookup != nil {
		crossErrs, crossWarnings := v.checkCrossObjects(ctx, obj, ownerChecks)
		errs = append(errs, crossErrs...)
		warnings = append(warnings, crossWarnings...)
	}
	if len(errs) > 0 {
		name := obj.Name
		if name == "" {
			name = obj.GenerateName
		}
		return deny(req.UID, apierrors.NewInvalid(v1alpha1.Kind("MemHpa"), name, errs).Status(), warnings...)
	}
	return allow(req.UID, warnings...)
}

// reviewSubresource never blocks: the status belongs to the scaler, and a
// status the rules dislike is reported as warnings to whoever wrote it.
func (v *validator) reviewSubresource(req *admissionv1.AdmissionRequest, obj *v1alpha1.MemHpa) *admissionv1.AdmissionResponse {
	if req.SubResource != "status" || req.Operation != admissionv1.Update {
		return allow(req.UID)
	}
	old, err := decodeMemHpa(req.OldObject, req)
	if err != nil {
		return allow(req.UID)
	}
	var warnings []string
	for _, e := range validation.ValidateStatusUpdateWithoutMetadata(obj, old) {
		warnings = append(warnings, e.Error())
	}
	return allow(req.UID, warnings...)
}

// checkCrossObjects runs the cross-object checks within the validator's timeout.
func (v *validator) checkCrossObjects(ctx context.Context, obj *v1alpha1.MemHpa, owners bool) (field.ErrorList, []string) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	in := readCrossObjects(ctx, v.lookup, obj, owners)
	errs, warnings := judgeCrossObjects(obj, in)
	for _, e := range in.readErrors() {
		// A throttled read is a flood's doing: one line each would flood the
		// log as well (CachedLookup.Counts counts them).
		verbosity := 0
		if errors.Is(e, ErrLiveReadThrottled) {
			verbosity = 4
		}
		klog.FromContext(ctx).V(verbosity).Info("Cross-object check could not read; admitted with a warning",
			"memhpa", klog.KObj(obj), "err", e)
	}
	return errs, warnings
}

func hasErrorUnder(errs field.ErrorList, path *field.Path) bool {
	prefix := path.String()
	for _, e := range errs {
		if e.Field == prefix || strings.HasPrefix(e.Field, prefix+".") {
			return true
		}
	}
	return false
}
