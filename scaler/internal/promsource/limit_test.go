package promsource

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// endless is a body that never ends, and counts what was read from it.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	e.read += int64(len(p))
	return len(p), nil
}

func (e *endless) Close() error { return nil }

func TestCappedBody(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		limit   int64
		wantErr bool
	}{
		{name: "shorter than the cap", body: "abc", limit: 4},
		{name: "exactly the cap", body: "abcd", limit: 4},
		{name: "one byte over", body: "abcde", limit: 4, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &cappedBody{body: io.NopCloser(strings.NewReader(tc.body)), left: tc.limit, limit: tc.limit}
			got, err := io.ReadAll(b)
			var tooLarge *ResponseTooLargeError
			if tc.wantErr != errors.As(err, &tooLarge) {
				t.Fatalf("error = %v, want a too-large error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && string(got) != tc.body {
				t.Errorf("read %q, want %q", got, tc.body)
			}
		})
	}

	// An endless answer is read no further than the cap and one byte.
	src := &endless{}
	const limit = 1 << 20
	_, err := io.ReadAll(&cappedBody{body: src, left: limit, limit: limit})
	if err == nil || err.Error() != "Prometheus response larger than 1 MiB" {
		t.Errorf("error = %v", err)
	}
	if src.read > limit+1 {
		t.Errorf("read %d bytes of an endless body, cap %d", src.read, limit)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{
		64 << 20: "64 MiB", 1 << 30: "1 GiB", 3 << 10: "3 KiB", 1536: "1536 bytes", 1000: "1000 bytes",
	} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestReadBody(t *testing.T) {
	const limit = 100
	body := strings.Repeat("x", limit)
	for _, tc := range []struct {
		name    string
		body    string
		size    int64 // the declared Content-Length, -1 for none
		wantErr bool
	}{
		{name: "declared and whole", body: body, size: limit},
		{name: "undeclared", body: body, size: -1},
		{name: "declared too small", body: body, size: 10},
		{name: "declared too large", body: body[:50], size: 90},
		{name: "empty", body: "", size: 0},
		{name: "past the cap, undeclared", body: body + "y", size: -1, wantErr: true},
		{name: "past the cap, declared smaller", body: body + "y", size: 3, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(tc.body), tc.size, limit)
			var tooLarge *ResponseTooLargeError
			if tc.wantErr {
				if !errors.As(err, &tooLarge) {
					t.Fatalf("read %d bytes, error %v; want a too-large error", len(got), err)
				}
				return
			}
			if err != nil || string(got) != tc.body {
				t.Fatalf("read %q, %v; want %q", got, err, tc.body)
			}
			if int64(cap(got)) > limit+1 {
				t.Errorf("buffer of %d bytes for a cap of %d", cap(got), limit)
			}
		})
	}
}
