package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Load describes one closed-loop load: Clients goroutines that each send Body
// to URL over one keep-alive TLS connection pool, back to back, for Duration.
// With Rate > 0 the clients share a limiter and together send at most Rate
// requests per second (an open-ish load at a fixed rate).
type Load struct {
	URL      string
	Body     []byte
	CA       []byte
	Clients  int
	Duration time.Duration
	Rate     float64
}

// Result is what one load run measured.
type Result struct {
	Requests  int
	Failures  int
	Elapsed   time.Duration
	PerSecond float64
	P50, P99  time.Duration
	FirstErr  error
}

// Run sends the load and measures every request's latency. A request counts
// as a failure when it errors or the status is not 200; the first error is kept
// so a broken server is reported, not measured.
func Run(ctx context.Context, l Load) (Result, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(l.CA) {
		return Result{}, fmt.Errorf("load: no certificate in the CA bundle")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        l.Clients,
		MaxIdleConnsPerHost: l.Clients,
		MaxConnsPerHost:     l.Clients,
		IdleConnTimeout:     time.Minute,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var limiter *rate.Limiter
	if l.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(l.Rate), 1)
	}
	runCtx, cancel := context.WithTimeout(ctx, l.Duration)
	defer cancel()

	var (
		mu       sync.Mutex
		all      []time.Duration
		failures int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range l.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			fails := 0
			var ferr error
			for runCtx.Err() == nil {
				if limiter != nil && limiter.Wait(runCtx) != nil {
					break
				}
				t0 := time.Now()
				err := post(runCtx, client, l.URL, l.Body)
				if runCtx.Err() != nil {
					break // cut off by the end of the run: neither a success nor a failure
				}
				if err != nil {
					fails++
					if ferr == nil {
						ferr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			failures += fails
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	r := Result{
		Requests:  len(all),
		Failures:  failures,
		Elapsed:   elapsed,
		PerSecond: float64(len(all)) / elapsed.Seconds(),
		P50:       quantile(all, 0.50),
		P99:       quantile(all, 0.99),
		FirstErr:  firstErr,
	}
	if len(all) == 0 {
		return r, fmt.Errorf("load: no request succeeded: %v", firstErr)
	}
	return r, nil
}

func post(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// Median returns the median of xs (the mean of the middle two for an even count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
