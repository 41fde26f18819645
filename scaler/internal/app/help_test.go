//go:build !memhpabench

package app

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// TestHelpListsOnlyProductFlags: the product's --help names no flag that
// exists only for make bench (issue 12 item 1); the bench builds the scaler
// with the memhpabench tag for its comparison modes.
func TestHelpListsOnlyProductFlags(t *testing.T) {
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	NewOptions().AddFlags(fs)
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, bench := range []string{"prometheus-query-mode", "per-memhpa", "scale-read-mode", "Not for production", "make bench"} {
		if strings.Contains(help.String(), bench) {
			t.Errorf("scaler --help mentions %q, which exists only for make bench", bench)
		}
	}
}
