package admission

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	clocktesting "k8s.io/utils/clock/testing"

	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// flood sends n reviews of MemHpas aimed at the Deployments named by target(i)
// through a validator over l, and checks that each is admitted with a
// warning about its target (missing, or not read). It returns how long the
// flood took.
func flood(t *testing.T, l Lookup, n int, target func(i int) string) time.Duration {
	t.Helper()
	v := NewValidator(l, 5*time.Second)
	// A line per review would drown the test's output.
	ctx := klog.NewContext(t.Context(), logr.Discard())
	start := time.Now()
	for i := range n {
		rev, err := DecodeReview(reviewJSON(t, admissionv1.Create, memhpagen.MemHpa(fmt.Sprint("flood-", i), memhpagen.WithRef("apps/v1", "Deployment", target(i))), nil))
		if err != nil {
			t.Fatal(err)
		}
		resp := v.Review(ctx, rev.Request)
		if !resp.Allowed || len(resp.Warnings) != 1 ||
			!strings.Contains(resp.Warnings[0], "was not found") && !strings.Contains(resp.Warnings[0], "could not read") {
			t.Fatalf("review %d: allowed %v, warnings %q; want admitted with a warning about the target", i, resp.Allowed, resp.Warnings)
		}
	}
	return time.Since(start)
}

func liveReads(f *FakeLookup) int {
	return len(slices.DeleteFunc(f.Calls(), func(c string) bool { return c != "PodTemplate" }))
}

// A flood of reviews for random workloads that do not exist (none in the
// cache) cannot become a flood of apiserver reads: the live fallback is
// rate-limited (10/s, burst 20, shared by all reviews), and a throttled read
// admits with a warning, as a failed read always did.
func TestFloodOfRandomMissingTargetsIsRateLimited(t *testing.T) {
	const reviews, qps, burst = 1000, 10, 20
	live := &FakeLookup{}
	l := startCachedLookupWith(t, kubefake.NewClientset(), memhpafake.NewSimpleClientset(), live)
	took := flood(t, l, reviews, func(i int) string { return fmt.Sprintf("random-%d-%d", i, time.Now().UnixNano()) })
	budget := burst + int(math.Ceil(qps*took.Seconds()))
	if got := liveReads(live); got > budget {
		t.Errorf("%d reviews in %v made %d live reads, want at most %d (burst %d + %d/s)", reviews, took.Round(time.Millisecond), got, budget, burst, qps)
	}
	t.Logf("%d reviews in %v made %d live reads", reviews, took.Round(time.Millisecond), liveReads(live))
}

// A workload found missing is remembered for a moment: a flood of reviews
// aimed at the same missing Deployment reads it once.
func TestMissingTargetIsCached(t *testing.T) {
	live := &FakeLookup{}
	l := startCachedLookupWith(t, kubefake.NewClientset(), memhpafake.NewSimpleClientset(), live)
	flood(t, l, 1000, func(int) string { return "missing" })
	if got := liveReads(live); got != 1 {
		t.Errorf("1000 reviews of one missing Deployment made %d live reads, want 1", got)
	}
}

// With a clock that stands still, the live-read limit lets exactly its burst
// through, then as many reads a second as its rate; the not-found answers are
// forgotten after their TTL, and a throttled read is never remembered as
// missing.
func TestLiveReadLimitAndNotFoundTTL(t *testing.T) {
	const qps, burst, ttl = 10, 20, 5 * time.Second
	clk := clocktesting.NewFakePassiveClock(time.Unix(1_700_000_000, 0))
	live := &FakeLookup{}
	l, err := NewCachedLookup(kubefake.NewClientset(), memhpafake.NewSimpleClientset(), live,
		WithLiveReadLimit(qps, burst), WithNotFoundCache(ttl, 100), WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	// Not started: every read falls back, as before the first sync.
	ctx := t.Context()
	read := func(name string) error {
		_, err := l.PodTemplate(ctx, memhpagen.Namespace, deploymentGK, name)
		return err
	}
	steps := []struct {
		name          string
		advance       time.Duration
		names         []string
		wantReads     int // live reads so far
		wantThrottled int // reads throttled so far
	}{
		{name: "the burst", names: names30("a"), wantReads: burst, wantThrottled: 10},
		{name: "the same names again: the first 20 are remembered, the others throttled", names: names30("a"), wantReads: burst, wantThrottled: 20},
		{name: "a second later: the rate's worth", advance: time.Second, names: names30("b"), wantReads: burst + qps, wantThrottled: 40},
		{name: "past the TTL the missing names are read again", advance: ttl, names: names30("a")[:5], wantReads: burst + qps + 5, wantThrottled: 40},
	}
	for _, st := range steps {
		clk.SetTime(clk.Now().Add(st.advance))
		for _, n := range st.names {
			err := read(n)
			if !apierrors.IsNotFound(err) && !errors.Is(err, ErrLiveReadThrottled) {
				t.Fatalf("%s: read %s: %v, want not found or throttled", st.name, n, err)
			}
		}
		got := l.Counts()
		if got.LiveReads != int64(st.wantReads) || got.Throttled != int64(st.wantThrottled) || int(got.LiveReads) != liveReads(live) {
			t.Errorf("%s: counts %+v (fake saw %d reads), want %d live reads and %d throttled", st.name, got, liveReads(live), st.wantReads, st.wantThrottled)
		}
	}
}

func names30(prefix string) []string {
	out := make([]string, 30)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// The not-found cache holds at most its size: when full it drops expired
// entries first, then any.
func TestNotFoundCacheIsBounded(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1_700_000_000, 0))
	c := &notFoundCache{ttl: time.Second, maxEntries: 3, clock: clk, entries: map[WorkloadKey]notFoundEntry{}}
	key := func(n string) WorkloadKey { return WorkloadKey{Namespace: "ns", GroupKind: deploymentGK, Name: n} }
	missing := errors.New("not found")
	for _, n := range []string{"a", "b", "c"} {
		c.add(key(n), missing)
	}
	clk.SetTime(clk.Now().Add(time.Second)) // a, b, c expire
	c.add(key("d"), missing)
	if len(c.entries) != 1 || c.get(key("d")) == nil {
		t.Errorf("after the expired entries: %v, want only d", c.entries)
	}
	for _, n := range []string{"e", "f", "g", "h"} {
		c.add(key(n), missing)
	}
	if len(c.entries) != 3 || c.get(key("h")) == nil {
		t.Errorf("full cache: %d entries (%v), want 3 with the newest, h", len(c.entries), c.entries)
	}
}
