// Package benchmem measures what the scaler's pod cache costs: a real
// SharedIndexInformer over 10,000 realistic pods, with the scaler's transform
// (controller.TransformPod) and, as the baseline in the same run, without it.
// `make bench` runs BenchmarkPodCache and BenchmarkScalerRSS and writes the
// figures to docs/performance.md; `make test` runs only the quick checks.
// Every file is a _test.go file: no binary links this package.
package benchmem
