// Package docs checks that the documentation says what the code is: the
// package map of docs/architecture.md names every Go package of the three
// modules, and only directories that exist.
package docs
