package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// page collects the sections of docs/performance.md.
type page struct {
	header   string
	sections []string
}

func newPage(root string, o options) *page {
	commit := "unknown"
	if out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Performance\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (test/cmd/memhpa-bench); do not edit by hand.\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| commit | `%s` |\n", commit)
	fmt.Fprintf(&b, "| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "| machine | %s |\n", machine())
	fmt.Fprintf(&b, "| Go | %s |\n", runtime.Version())
	fmt.Fprintf(&b, "| reproduce | `make bench` (runs=%d, webhook load %s × %d clients, scaler sync period %s at scale, scale points %s) |\n\n",
		o.runs, o.duration, o.clients, o.scalePeriod, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.scalePoints)), ","), "[]"))
	fmt.Fprintf(&b, "Every figure is the median of %d runs. Each is compared with a baseline measured in the same command, "+
		"alternating with it, so the ratios hold on a busy or shared machine where absolute numbers do not.\n", o.runs)
	return &page{header: b.String()}
}

func (p *page) add(s string) { p.sections = append(p.sections, s) }

func (p *page) String() string {
	slices.Sort(p.sections) // each starts with "## N.": 1 webhook, 2 scale, 3 reaction, 4 memory
	return p.header + "\n" + strings.Join(p.sections, "\n")
}

func machine() string {
	mem := "unknown memory"
	if out, err := exec.Command("sh", "-c", "awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo").Output(); err == nil {
		mem = strings.TrimSpace(string(out))
	}
	model := ""
	if out, err := exec.Command("sh", "-c", "awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo").Output(); err == nil {
		model = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d cores (%s), %s, %s/%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d float64) string { return fmt.Sprintf("%.2f ms", d) }
