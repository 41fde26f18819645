package admission

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2/ktesting"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

const testUID = "705ab4f5-6393-11e8-b7cc-42010a800002"

// reqOption changes a request being built.
type reqOption func(*admissionv1.AdmissionRequest)

func subresource(s string) reqOption {
	return func(r *admissionv1.AdmissionRequest) { r.SubResource = s }
}

func dryRun() reqOption {
	return func(r *admissionv1.AdmissionRequest) { r.DryRun = ptrTo(true) }
}

func kind(gvk schema.GroupVersionKind) reqOption {
	return func(r *admissionv1.AdmissionRequest) { r.Kind = metav1.GroupVersionKind(gvk) }
}

// reviewJSON returns the body the apiserver would send for op on obj (old is
// the stored object of an update or delete).
func reviewJSON(t testing.TB, op admissionv1.Operation, obj, old any, opts ...reqOption) []byte {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID:       testUID,
		Kind:      metav1.GroupVersionKind(memHpaKind),
		Resource:  metav1.GroupVersionResource(v1alpha1.SchemeGroupVersion.WithResource("memhpas")),
		Namespace: memhpagen.Namespace,
		Operation: op,
		UserInfo:  authUser(),
	}
	if m, ok := obj.(*v1alpha1.MemHpa); ok && m != nil {
		req.Name = m.Name
	}
	req.Object = rawOf(t, obj)
	req.OldObject = rawOf(t, old)
	for _, opt := range opts {
		opt(req)
	}
	review := &admissionv1.AdmissionReview{Request: req}
	review.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func rawOf(t testing.TB, obj any) runtime.RawExtension {
	t.Helper()
	switch o := obj.(type) {
	case nil:
		return runtime.RawExtension{}
	case *v1alpha1.MemHpa:
		if o == nil {
			return runtime.RawExtension{}
		}
	case string:
		return runtime.RawExtension{Raw: []byte(o)}
	}
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: data}
}

// review decodes body as the server does for r (the validator's objects in
// the review's pass) and asks r.
func review(t testing.TB, r Reviewer, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	decode := DecodeReview
	if _, ok := r.(*validator); ok {
		decode = DecodeReviewObjects
	}
	rev, err := decode(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	_, ctx := ktesting.NewTestContext(t)
	resp := r.Review(ctx, rev.Request)
	if resp == nil {
		t.Fatal("Review returned nil")
	}
	if resp.UID != testUID {
		t.Errorf("response UID = %q, want the request's %q", resp.UID, testUID)
	}
	// What the server writes must encode.
	if _, err := json.Marshal(ResponseReview(resp)); err != nil {
		t.Errorf("encode response: %v", err)
	}
	return resp
}

func authUser() authenticationv1.UserInfo { return authenticationv1.UserInfo{Username: "alice"} }

func ptrTo[T any](v T) *T { return &v }

// workload is a Deployment's pod template in FakeLookup.
func workload(name string, template *corev1.PodTemplateSpec) map[WorkloadKey]*corev1.PodTemplateSpec {
	return map[WorkloadKey]*corev1.PodTemplateSpec{
		{Namespace: memhpagen.Namespace, GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Name: name}: template,
	}
}
