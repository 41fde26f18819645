package harness

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress prints one line per step with the time elapsed since the start,
// so nobody stares at a silent terminal.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func newProgress(out io.Writer) *progress {
	if out == nil {
		out = os.Stderr
	}
	return &progress{out: out, start: time.Now()}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

func (p *progress) step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "[memhpa %6.1fs] %s\n", p.elapsed().Seconds(), fmt.Sprintf(format, args...))
}
