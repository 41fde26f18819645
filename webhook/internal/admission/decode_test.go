package admission

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

func TestDecodeReview(t *testing.T) {
	valid := string(reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil))
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "valid", body: valid},
		{name: "empty", body: " \n", wantErr: "empty body"},
		{name: "not JSON", body: "<html>", wantErr: "decode admission review"},
		{name: "a JSON array", body: "[1]", wantErr: "decode admission review"},
		{name: "v1beta1", body: strings.Replace(valid, `"admission.k8s.io/v1"`, `"admission.k8s.io/v1beta1"`, 1),
			wantErr: `got apiVersion "admission.k8s.io/v1beta1" kind "AdmissionReview"`},
		{name: "another kind", body: strings.Replace(valid, `"kind":"AdmissionReview"`, `"kind":"Status"`, 1),
			wantErr: `kind "Status"`},
		{name: "no type meta", body: `{"request":{"uid":"1"}}`, wantErr: `got apiVersion "" kind ""`},
		{name: "no request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantErr: "no request"},
		{name: "request without uid", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`,
			wantErr: "no uid"},
		{name: "field of the wrong type", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`,
			wantErr: "decode admission review"},
		{name: "keys are case-sensitive", body: `{"APIVERSION":"admission.k8s.io/v1","Kind":"AdmissionReview","request":{"uid":"1"}}`,
			wantErr: `got apiVersion ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			review, err := DecodeReview([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil || review == nil || review.Request.UID != testUID {
					t.Fatalf("DecodeReview = %v, %v; want the review", review, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeReview error = %v, want one containing %q", err, tt.wantErr)
			}
			if review != nil {
				t.Errorf("DecodeReview returned a review with its error")
			}
		})
	}
}
