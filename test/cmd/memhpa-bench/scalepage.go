package main

import (
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/memhpa/memhpa/test/bench"
)

// scaleFigures are the medians of the scale section's runs, by configuration
// and point: each run's median over its cycles, then the median of the runs.
type scaleFigures struct{ runs []scaleRun }

// of returns the median over runs of config at memhpas of f's per-cycle
// median, and each run's figure.
func (s scaleFigures) of(config string, memhpas int, f func(scaleRun) []float64) (med float64, perRun []float64) {
	for _, r := range s.runs {
		if r.config == config && r.memhpas == memhpas {
			perRun = append(perRun, bench.Median(f(r)))
		}
	}
	return bench.Median(perRun), perRun
}

func (s scaleFigures) med(config string, memhpas int, f func(scaleRun) []float64) float64 {
	m, _ := s.of(config, memhpas, f)
	return m
}

// once returns the median over runs of a figure a run measures once.
func (s scaleFigures) once(config string, memhpas int, f func(scaleRun) float64) float64 {
	return s.med(config, memhpas, func(r scaleRun) []float64 { return []float64{f(r)} })
}

// verbs is the median requests per cycle by verb, "GET 1000, LIST 1", or
// "none".
func (s scaleFigures) verbs(config string, memhpas int) string {
	byVerb := map[string][]float64{}
	for _, r := range s.runs {
		if r.config == config && r.memhpas == memhpas {
			for v, n := range r.verbs {
				byVerb[v] = append(byVerb[v], n)
			}
		}
	}
	var parts []string
	for v, ns := range byVerb {
		if m := bench.Median(ns); m >= 0.5 {
			parts = append(parts, fmt.Sprintf("%s %.0f", v, m))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func (s scaleFigures) overruns(config string, memhpas int) (n float64) {
	for _, r := range s.runs {
		if r.config == config && r.memhpas == memhpas {
			n += r.overruns
		}
	}
	return n
}

var (
	figCycles   = func(r scaleRun) []float64 { return r.cycles }
	figQueries  = func(r scaleRun) []float64 { return r.queries }
	figRequests = func(r scaleRun) []float64 { return r.requests }
	figCPU      = func(r scaleRun) []float64 { return r.cpu }
	figGets     = func(r scaleRun) []float64 { return r.gets }
	figProm     = func(f func(promCost) float64) func(scaleRun) []float64 {
		return func(r scaleRun) []float64 {
			out := make([]float64, len(r.prom))
			for i, c := range r.prom {
				out[i] = f(c)
			}
			return out
		}
	}
	figEngine  = figProm(func(c promCost) float64 { return c.engine })
	figInner   = figProm(func(c promCost) float64 { return c.inner })
	figAPI     = figProm(func(c promCost) float64 { return c.api })
	figPromCPU = figProm(func(c promCost) float64 { return c.cpu })
)

// extrapolate fits a line through (x1, y1) and (x2, y2), x2 > x1, and
// returns the x where it reaches limit and its slope; ok is false when y does
// not grow with x (the line never reaches the limit).
func extrapolate(x1, y1, x2, y2, limit float64) (x, slope float64, ok bool) {
	slope = (y2 - y1) / (x2 - x1)
	if slope <= 0 {
		return 0, slope, false
	}
	return x2 + (limit-y2)/slope, slope, true
}

// seconds writes a duration given in seconds: ms below one second.
func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

// durations writes seconds as seconds does, comma-separated.
func durations(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = seconds(x)
	}
	return strings.Join(parts, ", ")
}

// times writes a/b as a factor, "—" when b is not positive.
func times(a, b float64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// thousands writes n with a comma between thousands: 10,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// scaleSection writes section 2 of the page.
func scaleSection(runs []scaleRun, steps []scaleStep, o options, profiles map[int]string) string {
	f := scaleFigures{runs: runs}
	n := o.scaleCompare
	P, Q, G := cfgProduct.name, cfgPerMemHpa.name, cfgGetScale.name
	bc, bcRuns := f.of(P, n, figCycles)
	pc, pcRuns := f.of(Q, n, figCycles)
	gc, gcRuns := f.of(G, n, figCycles)
	bq, pq := f.med(P, n, figQueries), f.med(Q, n, figQueries)
	bcpu, pcpu, gcpu := f.med(P, n, figCPU), f.med(Q, n, figCPU), f.med(G, n, figCPU)
	br, gr := f.med(P, n, figRequests), f.med(G, n, figRequests)
	bget, gget := f.med(P, n, figGets), f.med(G, n, figGets)
	be, pe := f.med(P, n, figEngine), f.med(Q, n, figEngine)
	bi, pi := f.med(P, n, figInner), f.med(Q, n, figInner)
	ba, pa := f.med(P, n, figAPI), f.med(Q, n, figAPI)
	bp, pp := f.med(P, n, figPromCPU), f.med(Q, n, figPromCPU)
	speedup := pc / bc
	pods := scalePods(n, o.scaleCompare)

	var s strings.Builder
	fmt.Fprintf(&s, "## 2. Scaler at scale: one full cycle over %s MemHpas, and up to %s\n\n", thousands(n), thousands(o.scalePoints[len(o.scalePoints)-1]))
	fmt.Fprintf(&s, "The local control plane with real Prometheus, %d kwok nodes (loopback IPs), %s Deployments × %d replicas "+
		"(%s pods, 100Mi memory limit, kwok reports 60Mi each) in %d namespaces, and a MemHpa for each Deployment at its "+
		"60 %% target, so nothing scales and a cycle is the steady state: read every target's scale, query, decide, write nothing. "+
		"The scaler runs as its real binary with `--sync-period=%s` and its default client limits; a cycle is "+
		"`memhpa_scaler_cycle_duration_seconds`, from the resync that queues every MemHpa until the last of them is reconciled; "+
		"queries and apiserver requests are the differences of the scaler's own counters between two cycle ends "+
		"(everything it did in one sync period), Prometheus's cost the difference of its own `/metrics` "+
		"(`prometheus_engine_query_duration_seconds_sum`, `prometheus_http_request_duration_seconds_sum` of `/api/v1/query`, "+
		"`process_cpu_seconds_total`) and the apiserver's GETs of `/scale` the difference of its `apiserver_request_total`, both read at the same cycle ends. "+
		"Each run reads %d cycles after a first, warm-up one. Every configuration runs one binary, the scaler built with the "+
		"`memhpabench` tag; each baseline differs from the product by one flag of that build only (not of the product), and they run alternately.\n\n",
		scaleNodes, thousands(n), scaleReplicas, thousands(pods), scaleNamespaces, o.scalePeriod, scaleCycles)

	fmt.Fprintf(&s, "### Batched query vs one query per MemHpa\n\n")
	fmt.Fprintf(&s, "Baseline: `--prometheus-query-mode=per-memhpa`, one query per MemHpa for its own pods.\n\n")
	fmt.Fprintf(&s, "| figure | batched (memhpa) | per-MemHpa (baseline) | ratio / goal |\n|---|---|---|---|\n")
	fmt.Fprintf(&s, "| full cycle (median) | %s | %s | goal ≤ 2 s: %s |\n", seconds(bc), seconds(pc), verdict(bc <= 2))
	fmt.Fprintf(&s, "| speed-up of batched over per-MemHpa | | | %.1f×; goal ≥ 5×: %s |\n", speedup, verdict(speedup >= 5))
	fmt.Fprintf(&s, "| Prometheus queries per cycle | %.0f | %.0f | goal one (or one per namespace): %s |\n", bq, pq, verdict(bq <= scaleNamespaces))
	fmt.Fprintf(&s, "| Prometheus engine time per cycle (all slices) | %s | %s | per-MemHpa / batched %s |\n", seconds(be), seconds(pe), times(pe, be))
	fmt.Fprintf(&s, "| of which evaluating (`inner_eval`) | %s | %s | %s |\n", seconds(bi), seconds(pi), times(pi, bi))
	fmt.Fprintf(&s, "| Prometheus query API time per cycle (HTTP, answer encoded) | %s | %s | %s |\n", seconds(ba), seconds(pa), times(pa, ba))
	fmt.Fprintf(&s, "| Prometheus CPU per cycle (scrapes and TSDB included) | %s | %s | %s |\n", seconds(bp), seconds(pp), times(pp, bp))
	fmt.Fprintf(&s, "| scaler CPU per cycle | %s | %s | %s |\n\n", seconds(bcpu), seconds(pcpu), times(pcpu, bcpu))
	fmt.Fprintf(&s, "Per run (cycle): batched %s; per-MemHpa %s. Cycles longer than the sync period (overruns): batched %.0f, per-MemHpa %.0f.\n",
		durations(bcRuns), durations(pcRuns), f.overruns(P, n), f.overruns(Q, n))
	var missed []string
	if bc > 2 {
		missed = append(missed, fmt.Sprintf("cycle %.2f s, %.2f s over 2 s (%.1f× the goal)", bc, bc-2, bc/2))
	}
	if speedup < 5 {
		missed = append(missed, fmt.Sprintf("speed-up %.1f×, %.1f× short of 5×", speedup, 5-speedup))
	}
	if bq > scaleNamespaces {
		missed = append(missed, fmt.Sprintf("%.0f queries per cycle, more than one per namespace", bq))
	}
	if len(missed) > 0 {
		fmt.Fprintf(&s, "\n**Missed by:** %s.", strings.Join(missed, "; "))
		if speedup < 5 {
			fmt.Fprintf(&s, " Both modes read the same informers and walk the same pod index; against a local Prometheus holding only "+
				"these %s pods, one per-MemHpa query costs Prometheus %s of engine time, so one query instead of %.0f saves "+
				"Prometheus's work (engine time %s, query API time %s, Prometheus CPU %s less) far more than the scaler's cycle time.",
				thousands(pods), seconds(pe/max(pq, 1)), pq, times(pe, be), times(pa, ba), times(pp, bp))
		}
		fmt.Fprintln(&s)
	}

	fmt.Fprintf(&s, "\n### The scale from informers vs a GET of /scale per MemHpa (the HPA's way)\n\n")
	fmt.Fprintf(&s, "Baseline: `--scale-read-mode=get`, no workload informers, a GET of every target's `/scale` each cycle.\n\n")
	fmt.Fprintf(&s, "| figure | informers (memhpa) | GET /scale (baseline) | ratio / goal |\n|---|---|---|---|\n")
	fmt.Fprintf(&s, "| scaler's apiserver requests per steady cycle | %.0f (%s) | %.0f (%s) | goal 0: %s |\n", br, f.verbs(P, n), gr, f.verbs(G, n), verdict(br < 0.5))
	fmt.Fprintf(&s, "| GETs of /scale the apiserver served per cycle | %.0f | %.0f | |\n", bget, gget)
	fmt.Fprintf(&s, "| full cycle (median) | %s | %s | GET / informers %s |\n", seconds(bc), seconds(gc), times(gc, bc))
	fmt.Fprintf(&s, "| scaler CPU per cycle | %s | %s | %s |\n\n", seconds(bcpu), seconds(gcpu), times(gcpu, bcpu))
	fmt.Fprintf(&s, "Per run (cycle): informers %s; GET %s. Overruns: GET %.0f.\n", durations(bcRuns), durations(gcRuns), f.overruns(G, n))
	if br >= 0.5 {
		fmt.Fprintf(&s, "\n**Missed by:** %.0f apiserver requests per steady cycle (%s), goal 0.\n", br, f.verbs(P, n))
	}

	fmt.Fprintf(&s, "\n### From %s to %s MemHpas: what one leader holds\n\n", thousands(o.scalePoints[0]), thousands(o.scalePoints[len(o.scalePoints)-1]))
	fmt.Fprintf(&s, "The product's configuration at each point, in the same control plane, which grows between them; "+
		"Deployments beyond the first %s have one pod each. RSS is the scaler's `process_resident_memory_bytes` after its last cycle. "+
		"The scaler's CPU per cycle holds the bench's %d reads of its `/metrics` per sync period (uncompressed), as a Prometheus scraping it holds one or two.\n\n",
		thousands(o.scaleCompare), scaleReadsPerPeriod)
	fmt.Fprintf(&s, "| MemHpas | pods | full cycle | scaler CPU per cycle | scaler RSS | overruns | creating the new ones took |\n|---|---|---|---|---|---|---|\n")
	for _, st := range steps {
		c, cRuns := f.of(P, st.memhpas, figCycles)
		fmt.Fprintf(&s, "| %s | %s | %s (runs %s) | %s | %s | %.0f | %s for %s (%.0f MemHpas/s) |\n",
			thousands(st.memhpas), thousands(st.pods), seconds(c), durations(cRuns), seconds(f.med(P, st.memhpas, figCPU)),
			mib(f.once(P, st.memhpas, func(r scaleRun) float64 { return r.rss })), f.overruns(P, st.memhpas),
			st.took.Round(time.Second), thousands(st.created), float64(st.created)/st.took.Seconds())
	}
	superlinear := false
	if len(steps) >= 2 {
		a, b := steps[len(steps)-2], steps[len(steps)-1]
		x1, x2 := float64(a.memhpas), float64(b.memhpas)
		limit := scaleLeaderPeriod.Seconds()
		cycleAt, cycleSlope, okCycle := extrapolate(x1, f.med(P, a.memhpas, figCycles), x2, f.med(P, b.memhpas, figCycles), limit)
		cpuAt, cpuSlope, okCPU := extrapolate(x1, f.med(P, a.memhpas, figCPU), x2, f.med(P, b.memhpas, figCPU), limit)
		rss := func(m int) float64 { return f.once(P, m, func(r scaleRun) float64 { return r.rss }) }
		rssSlope := (rss(b.memhpas) - rss(a.memhpas)) / (x2 - x1)
		fmt.Fprintf(&s, "\n**One leader's capacity.** ")
		if okCycle {
			fmt.Fprintf(&s, "Between %s and %s MemHpas the cycle grows by %s per 1,000 MemHpas; extrapolated linearly, "+
				"one leader's cycle fits a %s sync period up to about **%s MemHpas**. ",
				thousands(a.memhpas), thousands(b.memhpas), seconds(cycleSlope*1000), scaleLeaderPeriod, thousands(int(cycleAt/1000)*1000))
		} else {
			fmt.Fprintf(&s, "The cycle did not grow between %s and %s MemHpas: no linear extrapolation. ", thousands(a.memhpas), thousands(b.memhpas))
		}
		if okCPU {
			fmt.Fprintf(&s, "Its CPU per cycle grows by %s per 1,000 (one core busy for a whole %s period at about %s MemHpas) ",
				seconds(cpuSlope*1000), scaleLeaderPeriod, thousands(int(cpuAt/1000)*1000))
		}
		fmt.Fprintf(&s, "and its RSS by %s per 1,000. ", mib(rssSlope*1000))
		if c1, c2 := f.med(P, a.memhpas, figCycles), f.med(P, b.memhpas, figCycles); c1 > 0 && c2/c1 > 1.5*x2/x1 {
			fmt.Fprintf(&s, "The cycle grew %.0f× for %.0f× the MemHpas, faster than linearly: the line is an upper bound of the capacity, "+
				"and the profile of the largest point below says what grows. ", c2/c1, x2/x1)
			superlinear = true
		}
		fmt.Fprintf(&s, "Assumptions: cost grows linearly with MemHpas of one pod each beyond this range (the slope is that of the two largest points); "+
			"the apiserver, etcd, Prometheus, kwok and the scaler share these %d cores as here; Prometheus answers the one "+
			"batched query as fast per pod as here; nothing scales (a cycle that writes adds a scale and a status write per changed MemHpa).\n", runtime.NumCPU())
	}
	largest := o.scalePoints[len(o.scalePoints)-1]
	s.WriteString(shardsSection(f, largest, o.scalePeriod))
	for _, m := range []int{n, largest} {
		if prof := profiles[m]; prof != "" && (m == n && len(missed) > 0 || m == largest && m != n && superlinear) {
			fmt.Fprintf(&s, "\nCPU profile of the batched scaler at %s MemHpas over one sync period (`--profiling`, `go tool pprof -top`):\n\n```\n%s\n```\n", thousands(m), prof)
		}
	}
	return s.String()
}

// shardsSection compares, at the largest point, the product as one scaler
// with the product as shardReplicas scalers that split the MemHpas by
// --shards (measureShards: a run holds one scaleRun per scaler, in order).
func shardsSection(f scaleFigures, largest int, period time.Duration) string {
	var sharded [][]scaleRun // by run, then scaler
	for _, r := range f.runs {
		if r.config != cfgShards || r.memhpas != largest {
			continue
		}
		if len(sharded) == 0 || len(sharded[len(sharded)-1]) == shardReplicas {
			sharded = append(sharded, nil)
		}
		sharded[len(sharded)-1] = append(sharded[len(sharded)-1], r)
	}
	if len(sharded) == 0 {
		return ""
	}
	// Per run: every MemHpa has been reconciled once the slower scaler's
	// cycle has ended; the CPU is both scalers'.
	var slowest, cpu, rss []float64
	perScaler := make([]struct{ cycles, cpu, rss, decided []float64 }, shardReplicas)
	for _, run := range sharded {
		var worst, c, m float64
		for i, r := range run {
			cy := bench.Median(r.cycles)
			worst, c, m = max(worst, cy), c+bench.Median(r.cpu), m+r.rss
			ps := &perScaler[i]
			ps.cycles, ps.cpu = append(ps.cycles, cy), append(ps.cpu, bench.Median(r.cpu))
			ps.rss, ps.decided = append(ps.rss, r.rss), append(ps.decided, r.decided)
		}
		slowest, cpu, rss = append(slowest, worst), append(cpu, c), append(rss, m)
	}
	one, oneRuns := f.of(cfgProduct.name, largest, figCycles)
	two := bench.Median(slowest)
	oneCPU := f.med(cfgProduct.name, largest, figCPU)
	oneRSS := f.once(cfgProduct.name, largest, func(r scaleRun) float64 { return r.rss })

	var s strings.Builder
	fmt.Fprintf(&s, "\n### One scaler or %d: shards at %s MemHpas\n\n", shardReplicas, thousands(largest))
	fmt.Fprintf(&s, "The product as %d scaler processes with `--shards=%d` (one Lease each, leader election on, a 10 s retry period so that each "+
		"takes one shard), beside the product as one scaler (the row above), alternately, in the same control plane. "+
		"The %d namespaces split %s between the shards. Each scaler's cycle and CPU are read from its own `/metrics` as above; "+
		"every MemHpa has been reconciled once the slower of the two has ended its cycle. "+
		"MemHpas decided is the number of `memhpa_scaler_desired_replicas` series each one exports, and the run fails unless they add up to %s: "+
		"each MemHpa decided by exactly one scaler.\n\n",
		shardReplicas, shardReplicas, scaleNamespaces, namespaceSplit(shardReplicas), thousands(largest))
	fmt.Fprintf(&s, "| figure | 1 scaler | %d scalers | ratio |\n|---|---|---|---|\n", shardReplicas)
	fmt.Fprintf(&s, "| every MemHpa reconciled within (full cycle) | %s (runs %s) | %s (runs %s) | 1 / %d: %s |\n",
		seconds(one), durations(oneRuns), seconds(two), durations(slowest), shardReplicas, times(one, two))
	for i, ps := range perScaler {
		fmt.Fprintf(&s, "| scaler %d: MemHpas decided, cycle, CPU per cycle, RSS | | %s, %s, %s, %s | |\n", i,
			thousands(int(bench.Median(ps.decided))), seconds(bench.Median(ps.cycles)), seconds(bench.Median(ps.cpu)), mib(bench.Median(ps.rss)))
	}
	fmt.Fprintf(&s, "| scaler CPU per cycle, all scalers | %s | %s | %s |\n", seconds(oneCPU), seconds(bench.Median(cpu)), times(bench.Median(cpu), oneCPU))
	fmt.Fprintf(&s, "| scaler RSS, all scalers | %s | %s | %s |\n\n", mib(oneRSS), mib(bench.Median(rss)), times(bench.Median(rss), oneRSS))
	fmt.Fprintf(&s, "Shards split the work, not the caches: each replica watches every namespace (docs/decisions.md, Shards), so each holds "+
		"the RSS of one leader. On these %d cores the two scalers also share the CPU with the apiserver, etcd, Prometheus and kwok; "+
		"on separate nodes each would have its own. At a %s sync period each replica's cycle is its shards' share of the work.\n", runtime.NumCPU(), period)
	return s.String()
}

// namespaceSplit is how many of the scale section's namespaces each of n
// shards holds, "5 + 5", by the scaler's rule (FNV-1a 32 of the namespace's
// name modulo n), written again here as the e2e test writes it.
func namespaceSplit(n int) string {
	counts := make([]int, n)
	for i := range scaleNamespaces {
		h := fnv.New32a()
		h.Write([]byte(scaleNamespace(i)))
		counts[h.Sum32()%uint32(n)]++
	}
	parts := make([]string, n)
	for i, c := range counts {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, " + ")
}
