// Package admission turns admission.k8s.io/v1 AdmissionReviews of MemHpa
// objects into responses: a defaulter that answers with a JSON patch, and a
// validator that answers with every field error at once as an Invalid status
// and with warnings for concerns that must not block. It knows nothing of
// HTTP: the server decodes a body with DecodeReview, calls a Reviewer and
// writes the response.
//
// Cross-object checks read the cluster through Lookup, bounded by a timeout;
// a failed read never turns into a rejection, it becomes a warning.
package admission
