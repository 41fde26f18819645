package metrics

import (
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxResponseBytes is the default cap on one Prometheus answer. The
// chart limits the scaler's memory to 256 MiB, and an answer costs about six
// times its size in resident memory while it is decoded (the body,
// client_golang's copy of the result, the decoded samples, the per-pod maps:
// an answer of 16 MiB raised the peak by 93 MB, one of 32 MiB by 208 MB, one
// of 64 MiB by 353 MB). 16 MiB holds some 140,000 container series, fourteen
// times a namespace set of 5,000 pods of two containers, and leaves the pod
// cache its room within the limit.
const DefaultMaxResponseBytes int64 = 16 << 20

// ResponseTooLargeError is the failure of an answer larger than the cap.
type ResponseTooLargeError struct {
	// Limit is the cap, in bytes.
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return "Prometheus response larger than " + byteSize(e.Limit)
}

// byteSize writes a cap the way the flag's documentation does: 16 MiB.
func byteSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// capResponses bounds every response body next returns. client_golang's
// api.Client reads a whole body into memory before it decodes anything, so
// the bound has to sit below it, in the transport: an answer that declares a
// larger size is refused before its first byte, and one that streams without
// a size fails at the first byte past the cap, so nothing beyond it is ever
// buffered.
type capResponses struct {
	next  http.RoundTripper
	limit int64
}

// RoundTrip implements http.RoundTripper.
func (c capResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.limit {
		resp.Body.Close()
		return nil, &ResponseTooLargeError{Limit: c.limit}
	}
	resp.Body = &cappedBody{body: resp.Body, left: c.limit, limit: c.limit}
	return resp, nil
}

// cappedBody reads at most limit bytes of body and fails, rather than ends,
// when there is more.
type cappedBody struct {
	body  io.ReadCloser
	left  int64
	limit int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// At the cap: one more byte tells an answer of exactly the cap from
		// a larger one.
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n > 0 {
			return 0, &ResponseTooLargeError{Limit: b.limit}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.body.Close() }
