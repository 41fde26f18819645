package benchmem

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/memhpa/memhpa/scaler/internal/gen"
)

// PodServer stands in for the apiserver's pod collection, serving n realistic
// pods as JSON or protobuf (as the request's Accept asks): a list, or a
// watch-list stream (sendInitialEvents=true: one ADDED event a pod, then the
// "k8s.io/initial-events-end" bookmark), which is what client-go's reflector
// asks a 1.37 apiserver for (WatchList is on by default on both sides since
// 1.34/1.35). Watches then stay open with nothing to say. Only the client's
// memory is measured against it, so it serves nothing but pods; the bytes of
// each pod are encoded once and kept, so that the server costs the client's
// process nothing when it runs in another one.
type PodServer struct {
	*httptest.Server
	n int
	// Lists and WatchLists count the requests served of each kind, Protobuf
	// those answered in protobuf.
	Lists, WatchLists, Protobuf atomic.Int64

	mu      sync.Mutex
	encoded map[string][][]byte // media type → one encoded pod each
}

// NewPodServer starts a PodServer over n pods on loopback.
func NewPodServer(n int) *PodServer {
	s := &PodServer{n: n, encoded: map[string][][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

const listResourceVersion = "900000"

func (s *PodServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/api/v1/pods" {
		http.NotFound(w, r)
		return
	}
	mediaType := k8sruntime.ContentTypeJSON
	if strings.Contains(r.Header.Get("Accept"), k8sruntime.ContentTypeProtobuf) {
		mediaType = k8sruntime.ContentTypeProtobuf
		s.Protobuf.Add(1)
	}
	info, ok := k8sruntime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		http.Error(w, "no serializer for "+mediaType, http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("watch") != "true":
		s.Lists.Add(1)
		s.list(w, info)
	case q.Get("sendInitialEvents") == "true":
		s.WatchLists.Add(1)
		s.watchList(w, r, info)
	default:
		s.openWatch(w, r, info)
	}
}

// pods returns every pod encoded for the media type, encoding them on first use.
func (s *PodServer) pods(info k8sruntime.SerializerInfo) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.encoded[info.MediaType]; ok {
		return p, nil
	}
	enc := scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
	out := make([][]byte, s.n)
	for i := range out {
		b, err := k8sruntime.Encode(enc, gen.RealisticPod(i))
		if err != nil {
			return nil, fmt.Errorf("encode pod %d: %w", i, err)
		}
		out[i] = b
	}
	s.encoded[info.MediaType] = out
	return out, nil
}

func (s *PodServer) list(w http.ResponseWriter, info k8sruntime.SerializerInfo) {
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: listResourceVersion}, Items: make([]corev1.Pod, s.n)}
	for i := range list.Items {
		list.Items[i] = *gen.RealisticPod(i)
	}
	body, err := k8sruntime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion), list)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", info.MediaType)
	_, _ = w.Write(body)
}

func (s *PodServer) watchList(w http.ResponseWriter, r *http.Request, info k8sruntime.SerializerInfo) {
	pods, err := s.pods(info)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	enc, flush := s.startWatch(w, info)
	for _, raw := range pods {
		if err := enc.Encode(&metav1.WatchEvent{Type: "ADDED", Object: k8sruntime.RawExtension{Raw: raw}}); err != nil {
			return
		}
	}
	bookmark := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		ResourceVersion: listResourceVersion,
		Annotations:     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
	}}
	raw, err := k8sruntime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion), bookmark)
	if err != nil {
		return
	}
	if err := enc.Encode(&metav1.WatchEvent{Type: "BOOKMARK", Object: k8sruntime.RawExtension{Raw: raw}}); err != nil {
		return
	}
	flush()
	<-r.Context().Done()
}

func (s *PodServer) openWatch(w http.ResponseWriter, r *http.Request, info k8sruntime.SerializerInfo) {
	_, flush := s.startWatch(w, info)
	flush()
	<-r.Context().Done()
}

// startWatch writes a watch response's header, as the apiserver does (a
// protobuf stream is length-delimited and says so with stream=watch), and
// returns an encoder of watch events.
func (s *PodServer) startWatch(w http.ResponseWriter, info k8sruntime.SerializerInfo) (streaming.Encoder, func()) {
	contentType := info.MediaType
	if contentType != k8sruntime.ContentTypeJSON {
		contentType += ";stream=watch"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	buf := bufio.NewWriterSize(w, 64<<10)
	enc := streaming.NewEncoder(info.StreamSerializer.Framer.NewFrameWriter(buf),
		scheme.Codecs.EncoderForVersion(info.StreamSerializer.Serializer, corev1.SchemeGroupVersion))
	return enc, func() {
		_ = buf.Flush()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// ProcessMemory is what one process used to cache the pods.
type ProcessMemory struct {
	// PeakRSS is the high-water mark of resident memory (VmHWM).
	PeakRSS uint64
	// RSS is resident memory once the cache synced, after a GC (VmRSS).
	RSS uint64
	// Heap is live heap once the cache synced.
	Heap uint64
}

// String is the line a child process prints for its parent.
func (m ProcessMemory) String() string {
	return fmt.Sprintf("memhpa-rss peak=%d rss=%d heap=%d", m.PeakRSS, m.RSS, m.Heap)
}

// ParseProcessMemory finds the line String printed in a child's output.
func ParseProcessMemory(out string) (ProcessMemory, error) {
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "memhpa-rss ") {
			continue
		}
		var m ProcessMemory
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "memhpa-rss peak=%d rss=%d heap=%d", &m.PeakRSS, &m.RSS, &m.Heap); err != nil {
			return m, fmt.Errorf("parse %q: %w", line, err)
		}
		return m, nil
	}
	return ProcessMemory{}, fmt.Errorf("no memhpa-rss line in output:\n%s", out)
}

// CacheFromServer runs a pod informer against url with the scaler's kind of
// client (contentType: JSON, or protobuf for built-in types) and transform
// (nil for none), and returns this process's memory once it holds n pods.
// Run it in a fresh process: peak RSS is the whole process's.
func CacheFromServer(ctx context.Context, url, contentType string, n int, transform cache.TransformFunc) (ProcessMemory, error) {
	cfg := &rest.Config{Host: url, QPS: -1}
	cfg.ContentType = contentType
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return ProcessMemory{}, fmt.Errorf("create client: %w", err)
	}
	informer, stop, err := syncedPodInformer(ctx, client, n, transform)
	if err != nil {
		return ProcessMemory{}, err
	}
	defer stop()
	heap := liveHeap()
	peak, rss, err := procRSS()
	if err != nil {
		return ProcessMemory{}, err
	}
	runtime.KeepAlive(informer)
	return ProcessMemory{PeakRSS: peak, RSS: rss, Heap: heap}, nil
}

// procRSS reads VmHWM and VmRSS of this process (Linux).
func procRSS() (peak, rss uint64, err error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("read process status: %w", err)
	}
	for line := range bytes.Lines(status) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		kib, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmHWM:":
			peak = kib << 10
		case "VmRSS:":
			rss = kib << 10
		}
	}
	if peak == 0 || rss == 0 {
		return 0, 0, fmt.Errorf("no VmHWM/VmRSS in /proc/self/status")
	}
	return peak, rss, nil
}
