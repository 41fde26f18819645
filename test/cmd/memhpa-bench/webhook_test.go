package main

import (
	"math"
	"testing"
)

func TestBudgetMicros(t *testing.T) {
	// 2 cores at 34,087 reviews/s: 58.7 µs of machine time a review; at
	// 0.85 of that rate, 69.0 µs: 10.35 µs more.
	if got := budgetMicros(2, 34087); math.Abs(got-10.354) > 0.001 {
		t.Errorf("budgetMicros(2, 34087) = %.4f µs, want 10.354", got)
	}
}
