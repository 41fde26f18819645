package promsource

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/api"
)

// DefaultMaxResponseBytes is the default cap on one Prometheus answer. The
// chart limits the scaler's memory to 256 MiB, and an answer costs six to
// eight times its size in resident memory while client_golang decodes it
// (the body, its copy of the result, the decoded samples, the per-pod maps):
// answers of 16, 32 and 64 MiB raised the peak by 108, 210 and 433 MB. 16 MiB
// holds some 140,000 container series, fourteen times a set of namespaces
// with 5,000 pods of two containers, and leaves the pod cache its room.
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

// boundedClient is client_golang's api.Client with a Do of its own, that
// reads a body into a buffer doubled only up to the cap. client_golang's own
// Do reads into a bytes.Buffer, whose last doubling before a failing read
// past the cap held three times the cap: 125 MB of resident memory for a
// 16 MiB cap, over five failed queries.
type boundedClient struct {
	api.Client // its URL
	http       *http.Client
	limit      int64
}

// Do implements api.Client.
func (c boundedClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body, resp.ContentLength, c.limit)
	if err != nil {
		return resp, nil, err
	}
	return resp, body, nil
}

// readBody reads r to its end into a buffer of the declared size when there
// is one, else one that doubles from 64 KiB, but never past limit and a byte.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	n := min(int64(64<<10), limit+1)
	if size >= 0 {
		n = min(size+1, limit+1) // a byte more: EOF needs no growth
	}
	buf := make([]byte, 0, n)
	for {
		if int64(len(buf)) > limit {
			return nil, &ResponseTooLargeError{Limit: limit}
		}
		if len(buf) == cap(buf) {
			// Doubled by hand: append's growth would round past the cap.
			grown := make([]byte, len(buf), min(2*int64(cap(buf))+1, limit+1))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
