package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

const (
	shardCount    = 4
	perShard      = 2 // namespaces of each shard
	shardMaxAfter = 7 // maxReplicas once the test raises it after the kill
)

// shardOf is the documented assignment (docs/decisions.md): FNV-1a 32 of
// the namespace's name modulo the shard count, written here again so that
// the test checks the contract rather than reusing the scaler's code.
func shardOf(ns string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ns))
	return int(h.Sum32() % shardCount)
}

// namespacesOfEveryShard creates perShard namespaces for each shard.
func namespacesOfEveryShard(t *testing.T) []string {
	t.Helper()
	count := map[int]int{}
	var out []string
	for len(out) < shardCount*perShard {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		ns := "e2e-shard-" + hex.EncodeToString(b)
		if count[shardOf(ns)] == perShard {
			continue
		}
		count[shardOf(ns)]++
		mustKubectl(t, "create", "namespace", ns)
		t.Cleanup(func() { _, _ = env.Kubectl(context.Background(), "delete", "namespace", ns, "--wait=false") })
		out = append(out, ns)
	}
	return out
}

// shardsLed reads memhpa_scaler_shard_leader of a scaler: the shards it
// reports leading; a scaler that does not answer leads none.
func shardsLed(ctx context.Context, name string) []int {
	body, status, err := httpGet(ctx, env.ScalerHealthURL(name)+"/metrics")
	if err != nil || status != http.StatusOK {
		return nil
	}
	var led []int
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, `memhpa_scaler_shard_leader{shard="`)
		if !ok {
			continue
		}
		idx, value, _ := strings.Cut(rest, `"} `)
		i, err1 := strconv.Atoi(idx)
		v, err2 := strconv.ParseFloat(value, 64)
		if err1 == nil && err2 == nil && v == 1 {
			led = append(led, i)
		}
	}
	return led
}

// waitShardsLedOnce waits until every shard is led by exactly one of names
// and that has held for two retry periods; it returns each one's shards.
func waitShardsLedOnce(t *testing.T, names []string, timeout time.Duration) map[string][]int {
	t.Helper()
	var (
		last   map[string][]int
		stable time.Time
	)
	err := harness.Poll(testCtx(t), timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		now := map[string][]int{}
		holders := map[int]int{}
		for _, n := range names {
			now[n] = shardsLed(ctx, n)
			for _, i := range now[n] {
				holders[i]++
			}
		}
		for i, h := range holders {
			if h > 1 {
				return false, harness.Permanent(fmt.Errorf("shard %d reported led by %d scalers: %v", i, h, now))
			}
		}
		if !maps.EqualFunc(now, last, slices.Equal[[]int]) {
			last, stable = now, time.Now()
		}
		return len(holders) == shardCount && time.Since(stable) >= 2*leRetry, nil
	})
	if err != nil {
		t.Fatalf("the %d shards were not each led once by %v (last %v): %v", shardCount, names, last, err)
	}
	return last
}

// writesByNamespace counts, for one API proxy, the writes (POST, PUT,
// PATCH, DELETE) under each of namespaces: scale, status, events.
func writesByNamespace(p *apiProxy, namespaces []string) map[string]int {
	out := map[string]int{}
	for req, n := range p.requestsSeen() {
		method, path, _ := strings.Cut(req, " ")
		if method == http.MethodGet {
			continue
		}
		for _, ns := range namespaces {
			if strings.Contains(path, "/namespaces/"+ns+"/") {
				out[ns] += n
			}
		}
	}
	return out
}

// requireOneWriter checks that each namespace's writes since before came
// through exactly one proxy, the one of the scaler that leads its shard,
// and that every namespace had some.
func requireOneWriter(t *testing.T, proxies map[string]*apiProxy, before map[string]map[string]int, namespaces []string, led map[string][]int) {
	t.Helper()
	for _, ns := range namespaces {
		var writers []string
		for name, p := range proxies {
			if writesByNamespace(p, namespaces)[ns] > before[name][ns] {
				writers = append(writers, name)
			}
		}
		slices.Sort(writers)
		if len(writers) != 1 {
			t.Errorf("namespace %s (shard %d) was written by %v, want exactly one scaler (shards led: %v)", ns, shardOf(ns), writers, led)
			continue
		}
		if !slices.Contains(led[writers[0]], shardOf(ns)) {
			t.Errorf("namespace %s (shard %d) was written by %s, which leads %v", ns, shardOf(ns), writers[0], led[writers[0]])
		}
	}
}

// snapshot counts every proxy's writes by namespace now.
func snapshot(proxies map[string]*apiProxy, namespaces []string) map[string]map[string]int {
	out := map[string]map[string]int{}
	for name, p := range proxies {
		out[name] = writesByNamespace(p, namespaces)
	}
	return out
}

// Three scalers, four shards, eight namespaces (two a shard) whose MemHpas
// all need a rescale. Every namespace is written (scale, status, events) by
// exactly one scaler, the one that leads its shard. Then the scaler that
// leads the most shards is killed (SIGKILL: no release): the other two take
// its shards over within a lease duration plus the acquisition delays and
// reconcile their MemHpas, each namespace again by one of them.
func TestShardsSplitTheMemHpasAndSurviveAKill(t *testing.T) {
	leaseNS := newNamespace(t, "e2e-shard-leases")
	namespaces := namespacesOfEveryShard(t)
	for _, ns := range namespaces {
		autoscaledApp(t, ns)
	}

	names := []string{"scaler-shard-a", "scaler-shard-b", "scaler-shard-c"}
	proxies := map[string]*apiProxy{}
	for _, n := range names {
		proxies[n] = startAPIProxy(t)
		startScalerFor(t, n, "--kubeconfig="+proxies[n].Kubeconfig, "--shards="+strconv.Itoa(shardCount),
			"--leader-elect=true", "--leader-election-namespace="+leaseNS, "--leader-election-id=memhpa-e2e-shards",
			"--leader-election-lease-duration="+leLease.String(), "--leader-election-renew-deadline="+leRenew.String(),
			"--leader-election-retry-period="+leRetry.String())
	}
	led := waitShardsLedOnce(t, names, 90*time.Second)
	t.Logf("shards led: %v", led)

	ctx := testCtx(t)
	before := snapshot(proxies, namespaces)
	for _, ns := range namespaces {
		if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
			t.Fatal(err)
		}
	}
	// 2 → 4 → 6 (maxReplicas): the new pods start quiet, so 6 holds.
	for _, ns := range namespaces {
		waitReplicasAtLeast(t, ns, 6, faultReaction)
	}
	requireOneWriter(t, proxies, before, namespaces, led)
	if t.Failed() {
		t.FailNow()
	}

	// Kill the scaler that leads the most shards.
	victim := names[0]
	for _, n := range names {
		if len(led[n]) > len(led[victim]) {
			victim = n
		}
	}
	var survivors []string
	for _, n := range names {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	if err := env.KillComponent(ctx, harness.Component(victim)); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	// Expired after the lease duration; then a survivor waits a retry period
	// per shard it holds before each acquisition (at most three here).
	bound := leLease + 6*leRetry + 10*time.Second
	after := waitShardsLedOnce(t, survivors, bound+2*leRetry)
	takeover := time.Since(killedAt) - 2*leRetry // waitShardsLedOnce's stable time
	t.Logf("%s (shards %v) killed; %v took over after about %v (lease %v, retry %v): %v",
		victim, led[victim], survivors, takeover.Round(100*time.Millisecond), leLease, leRetry, after)
	if takeover > bound {
		t.Errorf("takeover took %v, want within %v", takeover, bound)
	}

	// A spec change everywhere: every MemHpa, the victim's included, is
	// reconciled again (6 → 7), each namespace by one survivor.
	survivorProxies := map[string]*apiProxy{}
	for _, n := range survivors {
		survivorProxies[n] = proxies[n]
	}
	before = snapshot(survivorProxies, namespaces)
	for _, ns := range namespaces {
		mustKubectl(t, "patch", "memhpa", appName, "-n", ns, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"maxReplicas":%d}}`, shardMaxAfter))
	}
	for _, ns := range namespaces {
		waitReplicasAtLeast(t, ns, shardMaxAfter, faultReaction)
	}
	requireOneWriter(t, survivorProxies, before, namespaces, after)
}
