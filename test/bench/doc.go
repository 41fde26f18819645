// Package bench measures memhpa against baselines run in the same command, so
// that the figures in docs/performance.md are ratios that mean something on a
// shared machine. `make bench` drives it through test/cmd/memhpa-bench; nothing
// here is part of `make test`, and no test asserts a duration.
package bench
