package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/test/bench"
	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// Prometheus misbehaves behind a proxy while the pods' memory rises: answers
// held past the scaler's query deadline, every sample NaN, an empty vector.
// Each time: no scaling for several cycles, ScalingActive=False with
// FailedGetMemoryMetric and a Warning event of that reason; once Prometheus
// answers properly again, the scale-up happens.
func TestPrometheusFaultsStopScalingUntilRecovery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault promFault
		delay time.Duration
	}{
		{name: "slower than the query deadline", fault: promDelay, delay: 3 * faultPromTimeout},
		{name: "every sample NaN", fault: promNaN},
		{name: "empty vector", fault: promEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t, "e2e-promfault")
			autoscaledApp(t, ns)
			proxy := startPromProxy(t)
			startScalerFor(t, "scaler-promfault", "--prometheus-url="+proxy.URL)

			// The pipeline works before the fault.
			waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)

			proxy.set(tc.fault, tc.delay)
			faultAt := time.Now()
			if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, appHot); err != nil {
				t.Fatal(err)
			}
			msg := waitCondition(t, ns, "ScalingActive", "False", "FailedGetMemoryMetric", faultReaction)
			ev := waitEvent(t, ns, "Warning", "FailedGetMemoryMetric", faultAt, faultReaction)
			t.Logf("condition: %s\nevent: %s", msg, ev)
			// Several cycles during which memory is at 180 % of target and
			// nothing scales.
			requireReplicasStay(t, ns, appReplicas, 4*faultSyncPeriod)
			if _, faulted := proxy.counts(); faulted < 2 {
				t.Fatalf("only %d queries met the fault: the scaler is not querying through the proxy", faulted)
			}

			proxy.set(promPass, 0)
			got := waitReplicasAtLeast(t, ns, 4, faultReaction)
			waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
			all, faulted := proxy.counts()
			t.Logf("recovered: %d replicas; %d queries, %d faulted", got, all, faulted)
		})
	}
}

// A scaler with --prometheus-timeout=2s (below the 3s sync period, as the
// scaler requires) gets valid metrics: the timeout it passes on to Prometheus
// must be one Prometheus can parse.
func TestScalerQueryTimeoutPrometheusAccepts(t *testing.T) {
	ns := newNamespace(t, "e2e-promtimeout")
	autoscaledApp(t, ns)
	startScalerFor(t, "scaler-promtimeout", "--prometheus-timeout=2s")
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
}

// The apiserver is stopped and started again under a running scaler: its
// informers resume, and a memory rise after the restart still scales.
func TestAPIServerRestartScalerResumes(t *testing.T) {
	ns := newNamespace(t, "e2e-apirestart")
	autoscaledApp(t, ns)
	startScalerFor(t, "scaler-apirestart")
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)

	ctx := testCtx(t)
	if err := env.StopComponent(ctx, harness.APIServer); err != nil {
		t.Fatal(err)
	}
	// The apiserver stays down for several scaler cycles.
	downFor := 4 * faultSyncPeriod
	requireDown(t, env.APIServerURL, downFor)
	if err := env.StartComponent(ctx, harness.APIServer); err != nil {
		t.Fatal(err)
	}
	requireScalerHealthy(t, "scaler-apirestart")

	// Something that happens after the restart is seen: the informers
	// resumed their watches.
	if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}
	got := waitReplicasAtLeast(t, ns, 4, faultReaction)
	waitEvent(t, ns, "Normal", "SuccessfulRescale", time.Now().Add(-faultReaction), 10*time.Second)
	t.Logf("after an apiserver outage of %v the scaler scaled to %d", downFor, got)
}

// requireDown checks for d that nothing answers at url (the component really
// is down), polling.
func requireDown(t *testing.T, url string, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // only asks whether anything answers on loopback
	end := time.Now().Add(d)
	err := harness.Poll(testCtx(t), d+10*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return false, harness.Permanent(fmt.Errorf("%s answers (%s) while it should be down", url, resp.Status))
		}
		return time.Now().After(end), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func requireScalerHealthy(t *testing.T, name string) {
	t.Helper()
	err := harness.Poll(testCtx(t), 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		body, status, err := httpGet(ctx, env.ScalerHealthURL(name)+"/healthz")
		return err == nil && status == http.StatusOK, fmt.Errorf("healthz %d %q: %v", status, body, err)
	})
	if err != nil {
		t.Fatalf("scaler %s is not healthy: %v", name, err)
	}
}

func httpGet(ctx context.Context, url string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return string(b), resp.StatusCode, err
}

// isLeader reads the memhpa_scaler_leader gauge of a scaler; a scaler that
// does not answer is not the leader.
func isLeader(ctx context.Context, name string) bool {
	body, status, err := httpGet(ctx, env.ScalerHealthURL(name)+"/metrics")
	if err != nil || status != http.StatusOK {
		return false
	}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "memhpa_scaler_leader" {
			v, err := strconv.ParseFloat(f[1], 64)
			return err == nil && v == 1
		}
	}
	return false
}

// Two scalers with leader election; the leader is killed (SIGKILL, so it
// cannot release the lease). The other takes over within the lease duration
// plus one retry period, and every rescale is done once: the scale writes seen
// on the Deployment equal the SuccessfulRescale events.
func TestLeaderKilledOtherTakesOverWithoutDoubleRescale(t *testing.T) {
	const (
		lease  = 6 * time.Second
		renew  = 4 * time.Second
		retry  = 1 * time.Second
		margin = 5 * time.Second // process start, a loaded machine
	)
	ns := newNamespace(t, "e2e-leader")
	autoscaledApp(t, ns)
	id := "memhpa-e2e-" + ns
	names := []string{"scaler-le-a", "scaler-le-b"}
	for _, n := range names {
		startScalerFor(t, n, "--leader-elect=true", "--leader-election-namespace="+ns, "--leader-election-id="+id,
			"--leader-election-lease-duration="+lease.String(), "--leader-election-renew-deadline="+renew.String(),
			"--leader-election-retry-period="+retry.String())
	}
	ctx := testCtx(t)

	var leader, follower string
	err := harness.Poll(ctx, 60*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		a, b := isLeader(ctx, names[0]), isLeader(ctx, names[1])
		switch {
		case a && b:
			return false, harness.Permanent(errors.New("both scalers report being the leader"))
		case a:
			leader, follower = names[0], names[1]
		case b:
			leader, follower = names[1], names[0]
		}
		return leader != "", nil
	})
	if err != nil {
		t.Fatalf("no single leader: %v", err)
	}
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)

	// Count every change of spec.replicas from here on.
	cs := clientset(t)
	startRepl, _, err := replicas(ctx, cs, ns, appName)
	if err != nil {
		t.Fatal(err)
	}
	rescalesBefore, err := eventCount(ctx, cs, ns, "SuccessfulRescale")
	if err != nil {
		t.Fatal(err)
	}
	changes := watchReplicaChanges(t, ns, startRepl)

	if err := env.KillComponent(ctx, harness.Component(leader)); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}
	err = harness.Poll(ctx, lease+retry+margin, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		return isLeader(ctx, follower), nil
	})
	if err != nil {
		t.Fatalf("%s did not take over within %v of the leader's death: %v", follower, lease+retry+margin, err)
	}
	takeover := time.Since(killedAt)
	got := waitReplicasAtLeast(t, ns, 4, faultReaction)

	// Let the last write's event land, then compare writes and events.
	writes := requireEachRescaleOnce(t, ns, changes, rescalesBefore)
	t.Logf("leader %s killed; %s took over after %v (lease %v); replicas %d → %d in %d writes %v",
		leader, follower, takeover.Round(time.Millisecond), lease, startRepl, got, len(writes), writes)
}

// Another writer changes the replicas between the scaler's read of the scale
// and its write. The scaler's write carries the resourceVersion it read, so
// the apiserver refuses it (409) instead of overwriting the other change
// blindly; the scaler reads again and goes on.
func TestConcurrentReplicaWriterIsNotOverwritten(t *testing.T) {
	ns := newNamespace(t, "e2e-race")
	autoscaledApp(t, ns)
	proxy := startAPIProxy(t)
	cs := clientset(t)

	const otherValue = 3
	var raced atomic.Bool
	var otherErr error
	proxy.setBefore(func(ctx context.Context, put scalePut) {
		if !strings.Contains(put.Path, "/namespaces/"+ns+"/") || raced.Swap(true) {
			return
		}
		// The other writer: `kubectl scale` would do the same.
		sc, err := cs.AppsV1().Deployments(ns).GetScale(ctx, appName, metav1.GetOptions{})
		if err == nil {
			sc.Spec.Replicas = otherValue
			_, err = cs.AppsV1().Deployments(ns).UpdateScale(ctx, appName, sc, metav1.UpdateOptions{})
		}
		otherErr = err
	})
	startScalerFor(t, "scaler-race", "--kubeconfig="+proxy.Kubeconfig)
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
	if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}

	// Wait for the raced write and one successful write after it.
	var puts []scalePut
	err := harness.Poll(testCtx(t), faultReaction, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		puts = nil
		for _, p := range proxy.scalePuts() {
			if strings.Contains(p.Path, "/namespaces/"+ns+"/") {
				puts = append(puts, p)
			}
		}
		return len(puts) >= 2 && puts[len(puts)-1].Status == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("scale writes of the scaler: %+v: %v\n%s", puts, err, memHpaState(ns))
	}
	if otherErr != nil {
		t.Fatalf("the other writer failed: %v", otherErr)
	}
	for _, p := range puts {
		if p.ResourceVersion == "" {
			t.Errorf("a scale write without a resourceVersion (a blind overwrite): %+v", p)
		}
	}
	if puts[0].Status != http.StatusConflict {
		t.Fatalf("the write raced by another writer got %d, want 409 Conflict: %+v", puts[0].Status, puts)
	}
	// The next write is based on a fresh read, which saw the other writer's
	// replicas; the scaler's decision starts from them.
	final, _, err := replicas(testCtx(t), cs, ns, appName)
	if err != nil {
		t.Fatal(err)
	}
	if final < otherValue {
		t.Fatalf("replicas %d after the race, below the other writer's %d", final, otherValue)
	}
	t.Logf("scale writes: %+v; replicas now %d", puts, final)
}

// The webhook's serving certificate is replaced on disk (same CA, new key)
// while 50 keep-alive clients (bench.Run) and 10 clients that open a new TLS
// connection per request send reviews. Not one review fails, and the new
// certificate is served without a restart.
func TestCertificateRotationUnderLoad(t *testing.T) {
	requireWebhook(t)
	ctx := testCtx(t)
	caPEM, err := env.WebhookCA()
	if err != nil {
		t.Fatal(err)
	}
	const loadFor = 40 * time.Second // the webhook re-reads its files every 10 s
	oldSerial := servedSerial(t)

	var (
		wg        sync.WaitGroup
		load      bench.Result
		loadErr   error
		fresh     freshLoad
		progress  atomic.Int64
		rotatedAt time.Time
		newSerial *big.Int
	)
	freshTLS := webhookTLS(t)
	wg.Add(2)
	go func() {
		defer wg.Done()
		load, loadErr = bench.Run(ctx, bench.Load{URL: env.WebhookURL() + "/validate", Body: validReviewJSON("rotation"),
			CA: caPEM, Clients: 50, Duration: loadFor, Rate: 300})
	}()
	go func() {
		defer wg.Done()
		fresh = runFreshLoad(ctx, freshTLS, 10, loadFor, &progress)
	}()

	// Rotate once the load is well under way on the old certificate.
	err = harness.Poll(ctx, 20*time.Second, 100*time.Millisecond, func(context.Context) (bool, error) {
		return progress.Load() >= 100, nil
	})
	if err != nil {
		t.Fatalf("the fresh-connection load did not get going: %d reviews: %v", progress.Load(), err)
	}
	ca, err := devcerts.LoadCAFiles(env.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(devcerts.ServingOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := devcerts.WriteKeyPair(env.CertDir, kp); err != nil {
		t.Fatal(err)
	}
	rotatedAt = time.Now()
	newSerial = kp.Cert.SerialNumber
	err = harness.Poll(ctx, 25*time.Second, 250*time.Millisecond, func(context.Context) (bool, error) {
		return servedSerial(t).Cmp(newSerial) == 0, nil
	})
	if err != nil {
		t.Fatalf("the new certificate (serial %v) is not served %v after it was written: %v", newSerial, time.Since(rotatedAt), err)
	}
	pickedUp := time.Since(rotatedAt)
	wg.Wait()

	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
	t.Logf("keep-alive load: %d reviews, %d failed, %.0f/s, p50 %v p99 %v; fresh-connection load: %d reviews (%d on the old certificate, %d on the new), %d failed; new certificate served %v after the write",
		load.Requests, load.Failures, load.PerSecond, load.P50, load.P99, fresh.requests, fresh.bySerial[oldSerial.String()], fresh.bySerial[newSerial.String()], fresh.failures, pickedUp)
	if load.Failures != 0 {
		t.Errorf("%d of %d keep-alive reviews failed during the rotation; first: %v", load.Failures, load.Requests, load.FirstErr)
	}
	if fresh.failures != 0 {
		t.Errorf("%d of %d fresh-connection reviews failed during the rotation; first: %v", fresh.failures, fresh.requests, fresh.firstErr)
	}
	if load.Requests < 1000 {
		t.Errorf("only %d keep-alive reviews in %v: the load did not run", load.Requests, loadFor)
	}
	if fresh.bySerial[oldSerial.String()] == 0 || fresh.bySerial[newSerial.String()] == 0 {
		t.Errorf("the fresh connections did not span the rotation: by serial %v", fresh.bySerial)
	}
	requireValidReviewsAnswered(t, webhookClient(t), "the rotation")
}

// servedSerial is the serial of the certificate the webhook presents on a new
// connection.
func servedSerial(t *testing.T) *big.Int {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		strings.TrimPrefix(env.WebhookURL(), "https://"), webhookTLS(t))
	if err != nil {
		t.Fatalf("TLS to the webhook: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

type freshLoad struct {
	requests, failures int
	firstErr           error
	bySerial           map[string]int
}

// runFreshLoad sends reviews from clients goroutines for d, each on a new
// TLS connection (a full handshake each time), and counts the certificates
// seen by serial.
func runFreshLoad(ctx context.Context, cfg *tls.Config, clients int, d time.Duration, progress *atomic.Int64) freshLoad {
	var (
		mu  sync.Mutex
		out = freshLoad{bySerial: map[string]int{}}
		wg  sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				serial, err := oneFreshReview(ctx, c)
				if ctx.Err() != nil && err != nil {
					return // the load's end cut this one off
				}
				progress.Add(1)
				mu.Lock()
				out.requests++
				if err != nil {
					out.failures++
					if out.firstErr == nil {
						out.firstErr = err
					}
				} else {
					out.bySerial[serial]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func oneFreshReview(ctx context.Context, c *http.Client) (string, error) {
	sent, err := sendValidReview(ctx, c, "/validate")
	return sent.serial, err
}
