package v1alpha1

// Annotations of a MemHpa that pause its scale writes, as KEDA's
// autoscaling.keda.sh/paused, paused-scale-in and paused-scale-out do. Only
// the value "true" pauses; the status keeps being computed and written.
const (
	// AnnotationPrefix starts every annotation of ours.
	AnnotationPrefix = "autoscaling.memhpa.io/"
	// AnnotationPaused: "true" stops every scale write.
	AnnotationPaused = AnnotationPrefix + "paused"
	// AnnotationPausedScaleIn: "true" holds scale-downs; scale-ups go on.
	AnnotationPausedScaleIn = AnnotationPrefix + "paused-scale-in"
	// AnnotationPausedScaleOut: "true" holds scale-ups; scale-downs go on.
	AnnotationPausedScaleOut = AnnotationPrefix + "paused-scale-out"
)

// PausedDirections reads the pause annotations: which directions of change
// they hold. A value other than "true" pauses nothing (the webhook warns).
func PausedDirections(annotations map[string]string) (scaleUp, scaleDown bool) {
	all := annotations[AnnotationPaused] == "true"
	return all || annotations[AnnotationPausedScaleOut] == "true", all || annotations[AnnotationPausedScaleIn] == "true"
}
