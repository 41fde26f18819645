package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/memhpa/memhpa/webhook/internal/admission"
)

// FuzzReviewHTTP sends arbitrary requests (method, path, Content-Type, body)
// through the secure port's router with the real defaulter and validator (on
// a fake cluster). Whatever comes in, the answer is one of the statuses the
// handler documents (never a 500, which is what a recovered panic gives), and
// a 200 is an AdmissionReview v1 whose response carries the request's UID.
// Seed corpus: testdata/fuzz/FuzzReviewHTTP.
func FuzzReviewHTTP(f *testing.F) {
	valid := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",` +
		`"kind":{"group":"autoscaling.memhpa.io","version":"v1alpha1","kind":"MemHpa"},"operation":"CREATE","name":"w","namespace":"n",` +
		`"object":{"apiVersion":"autoscaling.memhpa.io/v1alpha1","kind":"MemHpa","metadata":{"name":"w","namespace":"n"},` +
		`"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"w"},"maxReplicas":3}}}}`
	for _, seed := range []struct {
		method, path uint8
		contentType  string
		body         string
	}{
		{0, 0, "application/json", valid},
		{0, 1, "application/json; charset=utf-8", valid},
		{0, 1, "application/json", valid[:len(valid)/2]},
		{0, 0, "application/json", strings.Replace(valid, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1)},
		{0, 0, "application/json", strings.Replace(valid, `"operation":"CREATE"`, `"operation":"UPDATE","oldObject":{}`, 1)},
		{0, 1, "application/json", strings.Replace(valid, `"maxReplicas":3`, `"maxReplicas":0,"minReplicas":-1,"behavior":{"scaleUp":{"policies":[]}}`, 1)},
		{0, 0, "text/plain", valid},
		{1, 0, "", ""},
		{0, 2, "application/json", valid},
		{0, 1, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Pod","version":"v1"}}}`},
		{0, 0, "application/json", strings.Repeat("[", 20000)},
	} {
		f.Add(seed.method, seed.path, seed.contentType, []byte(seed.body))
	}
	methods := []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodDelete, "PATCH", "OPTIONS", "HEAD"}
	paths := []string{"/mutate", "/validate", "/convert", "/", "/mutate/", "/validate?timeout=1ns", "/mutate?timeout=-1s"}
	cfg := DefaultConfig()
	s := New(cfg, admission.NewDefaulter(), admission.NewValidator(&admission.FakeLookup{}, cfg.LookupTimeout))
	handler := s.secure.Handler
	allowed := map[int]bool{
		http.StatusOK: true, http.StatusBadRequest: true, http.StatusNotFound: true, http.StatusMethodNotAllowed: true,
		http.StatusRequestEntityTooLarge: true, http.StatusUnsupportedMediaType: true,
	}

	f.Fuzz(func(t *testing.T, method, path uint8, contentType string, body []byte) {
		m, p := methods[int(method)%len(methods)], paths[int(path)%len(paths)]
		req := httptest.NewRequest(m, "https://127.0.0.1"+p, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s %s (%q, %d bytes): status %d: %.300s", m, p, contentType, len(body), rec.Code, rec.Body.String())
		}
		if rec.Code != http.StatusOK || m == http.MethodHead {
			return
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("a 200 that is not JSON: %v: %.300s", err, rec.Body.String())
		}
		if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
			t.Fatalf("a 200 that is not an AdmissionReview v1 with a response: %.300s", rec.Body.String())
		}
		if in, err := admission.DecodeReview(body); err == nil && out.Response.UID != in.Request.UID {
			t.Fatalf("answered uid %q for request uid %q", out.Response.UID, in.Request.UID)
		}
		if out.Response.UID == "" {
			t.Fatalf("a response without a uid: %.300s", rec.Body.String())
		}
	})
}
