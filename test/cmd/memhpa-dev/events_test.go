package main

import (
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// event builds a core/v1 Event as `kubectl get events -o json` lists it.
func event(uid, typ, reason, msg string, count int32, last int) corev1.Event {
	return corev1.Event{
		ObjectMeta:    metav1.ObjectMeta{UID: types.UID(uid)},
		Type:          typ,
		Reason:        reason,
		Message:       msg,
		Count:         count,
		LastTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, last, 0, time.UTC)),
	}
}

var (
	failedMetric = event("u1", "Warning", "FailedGetMemoryMetric", "no sample", 1, 1)
	rescaled     = event("u2", "Normal", "SuccessfulRescale", "New size: 3; reason: memory above target", 1, 2)
)

func TestEventsToPrint(t *testing.T) {
	tests := []struct {
		name    string
		printed map[types.UID]int32
		list    []corev1.Event
		want    []string
		// wantPrinted is the state afterwards.
		wantPrinted map[types.UID]int32
	}{
		{
			name:        "first sight: each event once",
			list:        []corev1.Event{failedMetric, rescaled},
			want:        []string{"Warning FailedGetMemoryMetric: no sample", "Normal SuccessfulRescale: New size: 3; reason: memory above target"},
			wantPrinted: map[types.UID]int32{"u1": 1, "u2": 1},
		},
		{
			name:        "the next step lists the same events: nothing is printed again",
			printed:     map[types.UID]int32{"u1": 1, "u2": 1},
			list:        []corev1.Event{failedMetric, rescaled},
			wantPrinted: map[types.UID]int32{"u1": 1, "u2": 1},
		},
		{
			name:        "a count that grew: printed again with its count",
			printed:     map[types.UID]int32{"u1": 1, "u2": 1},
			list:        []corev1.Event{event("u1", "Warning", "FailedGetMemoryMetric", "no sample", 4, 9), rescaled},
			want:        []string{"Warning FailedGetMemoryMetric: no sample (×4)"},
			wantPrinted: map[types.UID]int32{"u1": 4, "u2": 1},
		},
		{
			name:        "first seen with a count above one: says the count",
			list:        []corev1.Event{event("u1", "Warning", "FailedGetMemoryMetric", "no sample", 3, 5)},
			want:        []string{"Warning FailedGetMemoryMetric: no sample (×3)"},
			wantPrinted: map[types.UID]int32{"u1": 3},
		},
		{
			name:        "a new event beside old ones: only the new one",
			printed:     map[types.UID]int32{"u1": 1, "u2": 1},
			list:        []corev1.Event{failedMetric, rescaled, event("u3", "Normal", "SuccessfulRescale", "New size: 1; reason: All metrics below target", 1, 60)},
			want:        []string{"Normal SuccessfulRescale: New size: 1; reason: All metrics below target"},
			wantPrinted: map[types.UID]int32{"u1": 1, "u2": 1, "u3": 1},
		},
		{
			name:        "an event without a count is one occurrence, printed once",
			printed:     map[types.UID]int32{"u1": 1},
			list:        []corev1.Event{event("u1", "Warning", "FailedGetMemoryMetric", "no sample", 0, 1)},
			wantPrinted: map[types.UID]int32{"u1": 1},
		},
		{
			name:        "a count below the one printed (a list older than the last): not printed",
			printed:     map[types.UID]int32{"u1": 5},
			list:        []corev1.Event{event("u1", "Warning", "FailedGetMemoryMetric", "no sample", 2, 1)},
			wantPrinted: map[types.UID]int32{"u1": 5},
		},
		{
			name:        "printed in the order they last happened",
			list:        []corev1.Event{rescaled, failedMetric},
			want:        []string{"Warning FailedGetMemoryMetric: no sample", "Normal SuccessfulRescale: New size: 3; reason: memory above target"},
			wantPrinted: map[types.UID]int32{"u1": 1, "u2": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.printed)
			got, gotPrinted := eventsToPrint(tt.printed, tt.list)
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
			if !maps.Equal(gotPrinted, tt.wantPrinted) {
				t.Errorf("printed afterwards = %v, want %v", gotPrinted, tt.wantPrinted)
			}
			if !maps.Equal(tt.printed, before) {
				t.Errorf("the printed map passed in was modified: %v, was %v", tt.printed, before)
			}
		})
	}
}
