package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/memhpa/memhpa/webhook/internal/admission"
)

// MaxBodyBytes caps an AdmissionReview body. A MemHpa is a few hundred bytes;
// the old object of an update doubles that. 1 MiB leaves room for any honest
// request and stops a client from making the webhook buffer megabytes.
const MaxBodyBytes = 1 << 20

// reviewHandler serves one webhook path: it checks the HTTP envelope, decodes
// the AdmissionReview, asks its Reviewer and writes the answer.
type reviewHandler struct {
	name     string // metric and log name: "mutate" or "validate"
	reviewer admission.Reviewer
	metrics  *metrics
	// limits are the server's, shared by both paths.
	limits *reviewLimits
	// maxTimeout caps the apiserver's ?timeout= hint (the server's write
	// timeout would cut a longer answer anyway).
	maxTimeout time.Duration
	// decode reads the body in the form reviewer reads: the defaulter wants
	// the object's raw bytes (admission.DecodeReview), the validator MemHpas
	// decoded in the same pass as the review (admission.DecodeReviewObjects).
	decode func(body []byte) (*admissionv1.AdmissionReview, error)
}

func (h *reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	logger := klog.FromContext(r.Context()).WithValues("webhook", h.name)
	// Until a branch below says otherwise the outcome is an internal error,
	// which is what a panic in the Reviewer leaves behind.
	operation, result, reason := "", resultError, metav1.StatusReasonInternalError
	defer func() {
		h.metrics.observe(h.name, operation, result, string(reason), time.Since(start))
	}()

	release, admitted := h.limits.admit(r.ContentLength)
	if !admitted {
		// Refused before the body is read, so that the bodies in flight stay
		// within the limits. Logged from V(4) only: a flood must not become a
		// flood of log lines too (the metric counts it).
		reason = metav1.StatusReasonTooManyRequests
		logger.V(4).Info("Refused admission request", "status", http.StatusTooManyRequests, "reason", reason,
			"contentLength", r.ContentLength, "inFlight", h.limits.inFlight())
		w.Header().Set("Retry-After", "1")
		// Close the connection: net/http would otherwise read (and drop) up
		// to 256 KiB of the unread body before it sends the answer.
		w.Header().Set("Connection", "close")
		http.Error(w, "too many admission reviews in flight: retry", http.StatusTooManyRequests)
		return
	}
	defer release()

	fail := func(code int, why metav1.StatusReason, msg string) {
		reason = why
		logger.V(2).Info("Refused admission request", "status", code, "reason", why, "message", msg)
		http.Error(w, msg, code)
	}

	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		fail(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			fmt.Sprintf("unsupported Content-Type %q: want application/json", r.Header.Get("Content-Type")))
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
				fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes))
			return
		}
		fail(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("read request body: %v", err))
		return
	}
	review, err := h.decode(body)
	if err != nil {
		fail(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	req := review.Request
	operation = operationLabel(req.Operation)
	logger = logger.WithValues("uid", req.UID, "operation", req.Operation,
		"resource", klog.KRef(req.Namespace, req.Name), "kind", req.Kind.Kind)

	ctx, cancel := context.WithTimeout(klog.NewContext(r.Context(), logger), h.timeout(r))
	defer cancel()
	resp := h.reviewer.Review(ctx, req)
	if resp == nil {
		logger.Error(nil, "Reviewer returned no response")
		http.Error(w, "internal error: no admission response", http.StatusInternalServerError)
		return
	}
	// The apiserver rejects an answer whose UID differs from its request's.
	resp.UID = req.UID
	out, err := json.Marshal(admission.ResponseReview(resp))
	if err != nil {
		logger.Error(err, "Failed to encode admission response")
		http.Error(w, "internal error: encode admission response", http.StatusInternalServerError)
		return
	}

	result, reason = resultAllowed, ""
	if !resp.Allowed {
		result = resultDenied
		if resp.Result != nil {
			reason = resp.Result.Reason
		}
	}
	// A denial is worth a line at the default verbosity; an admitted review is
	// routine (one per kubectl apply) and logged from V(4), Kubernetes' debug
	// level, so that the log does not cost every review a write.
	verbosity := 4
	if !resp.Allowed {
		verbosity = 2
	}
	logger.V(verbosity).Info("Answered admission request", "allowed", resp.Allowed, "reason", reason,
		"warnings", len(resp.Warnings), "patched", len(resp.Patch) > 0, "duration", time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(out); err != nil {
		logger.V(2).Info("Failed to write admission response", "err", err)
	}
}

// readBody reads at most MaxBodyBytes; more is a *http.MaxBytesError.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if r.ContentLength > 0 {
		// The apiserver always declares the length: one buffer of that size,
		// where ReadAll's doubling allocates twice the body. It is allocated
		// before the body arrives, within the in-flight byte budget.
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(body)
}

// timeout is the apiserver's remaining budget for this call, which it sends
// as ?timeout= (k8s.io/apiserver webhook dispatcher), capped by maxTimeout.
func (h *reviewHandler) timeout(r *http.Request) time.Duration {
	if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 && d < h.maxTimeout {
		return d
	}
	return h.maxTimeout
}

// recoverPanics turns a panic in a handler into a 500 and a log line, so one
// bad request never takes the process down. http.ErrAbortHandler keeps its
// meaning (abort the response silently).
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared by identity, as net/http does
				panic(v)
			}
			klog.FromContext(r.Context()).Error(fmt.Errorf("panic: %v", v), "Recovered from a panic while serving a request",
				"method", r.Method, "path", r.URL.Path, "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}
