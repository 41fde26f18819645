package bench

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"
)

// BaselineServer is the yardstick for the webhook: a minimal Go TLS server with
// the webhook's TLS settings (TLS 1.2 or later, HTTP/1.1 only) that answers
// every POST with a canned, allowed AdmissionReview. It does no decoding and no
// rules, so the webhook's ratio to it is the cost of memhpa's own work.
type BaselineServer struct {
	URL string
	srv *http.Server
	ln  net.Listener
}

var cannedReview = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}`)

// StartBaseline listens on a free loopback port with the given key pair.
func StartBaseline(certPEM, keyPEM []byte) (*BaselineServer, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /validate", func(w http.ResponseWriter, r *http.Request) {
		// Read the body as the webhook does, so both pay for the same bytes.
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(cannedReview)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"http/1.1"},
		},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	b := &BaselineServer{URL: "https://" + ln.Addr().String() + "/validate", srv: srv, ln: ln}
	go func() { _ = srv.ServeTLS(ln, "", "") }() // ends with Stop
	return b, nil
}

// Stop shuts the server down.
func (b *BaselineServer) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
}
