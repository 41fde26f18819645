package main

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// eventsToPrint returns a line for each event of list that is new, or whose
// count has grown since it was printed (then with "(×N)"), in the order they
// last happened, and the counts printed so far afterwards; printed itself is
// not modified. Events are keyed by UID: the recorder updates one Event
// object, raising its count, each time the same thing happens again.
func eventsToPrint(printed map[types.UID]int32, list []corev1.Event) ([]string, map[types.UID]int32) {
	next := maps.Clone(printed)
	if next == nil {
		next = map[types.UID]int32{}
	}
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b corev1.Event) int {
		return a.LastTimestamp.Compare(b.LastTimestamp.Time)
	})
	var lines []string
	for _, ev := range list {
		// A missing count (events.k8s.io series, or none) is one occurrence.
		count := max(ev.Count, 1)
		if seen, ok := next[ev.UID]; ok && count <= seen {
			continue
		}
		next[ev.UID] = count
		line := fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, ev.Message)
		if count > 1 {
			line += fmt.Sprintf(" (×%d)", count)
		}
		lines = append(lines, line)
	}
	return lines, next
}
