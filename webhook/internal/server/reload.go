package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// fileReloader keeps a value built from files on disk (a certificate and its
// key, a CA bundle) and re-reads the files every interval, building the value
// again when their content changed. It takes the place of cert-manager's
// FileCertificateSource, whose MaxFailures counts failed re-reads over the
// life of the process and never resets: a mounted Secret that is briefly
// unreadable twelve times in a month would end a healthy webhook. Here
// maxFailures is a run of consecutive failures: any good read ends the run.
type fileReloader[T any] struct {
	what        string   // for logs and errors: "serving certificate", "client CA bundle"
	paths       []string // read in this order on every re-read
	build       func(contents [][]byte) (T, error)
	interval    time.Duration
	maxFailures int

	mu     sync.RWMutex
	loaded bool
	value  T
	raw    [][]byte // the contents value was built from
}

// Get returns the value built from the last good read, and false until there
// has been one.
func (r *fileReloader[T]) Get() (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.value, r.loaded
}

// Start reads the files at once and then every interval until ctx is done
// (it then returns nil). After maxFailures failed reads in a row it returns
// an error, so that the process exits and the kubelet starts it again; until
// then the last good value stays in use.
func (r *fileReloader[T]) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("files", r.paths)
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	failures := 0
	for {
		changed, err := r.reload()
		if err != nil {
			failures++
			if failures >= r.maxFailures {
				return fmt.Errorf("read %s: %d reads failed in a row, the last one: %w", r.what, failures, err)
			}
			logger.Error(err, "Failed to read "+r.what, "failures", failures, "maxFailures", r.maxFailures)
		} else {
			if changed {
				logger.Info("Loaded " + r.what)
			}
			if failures > 0 {
				logger.Info("Read "+r.what+" again after failed reads", "failures", failures)
			}
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// reload reads the files and, when their content differs from what the
// current value was built from, builds and keeps a new value. It reports
// whether the value changed.
func (r *fileReloader[T]) reload() (bool, error) {
	contents := make([][]byte, len(r.paths))
	for i, p := range r.paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return false, err // *fs.PathError names the file
		}
		contents[i] = data
	}
	r.mu.RLock()
	same := r.loaded && slices.EqualFunc(contents, r.raw, bytes.Equal)
	r.mu.RUnlock()
	if same {
		return false, nil
	}
	value, err := r.build(contents)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	r.value, r.raw, r.loaded = value, contents, true
	r.mu.Unlock()
	return true, nil
}
