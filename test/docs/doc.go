// Package docs checks that the documentation says what the code is: the
// package map of docs/architecture.md names every Go package of the three
// modules, and only directories that exist; and that the house keeps its
// rules: every internal package of webhook/ and scaler/ is linked into a
// binary, so nothing in the product exists only for tests or benchmarks.
package docs
