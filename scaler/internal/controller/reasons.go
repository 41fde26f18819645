package controller

// Condition and event reasons of the controller's own I/O: reading and
// writing the target's /scale, reading its selector, writing the status.
// The reasons the decision produces are calc's (calc/reasons.go). Where the
// meaning is the HPA's, the word is the HPA's
// (kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go).
const (
	// ReasonSucceededGetScale (AbleToScale=True): the target's /scale was read.
	ReasonSucceededGetScale = "SucceededGetScale"
	// ReasonFailedGetScale (AbleToScale=False): it could not be read.
	ReasonFailedGetScale = "FailedGetScale"
	// ReasonSucceededRescale (AbleToScale=True): the new size was written.
	ReasonSucceededRescale = "SucceededRescale"
	// ReasonFailedUpdateScale (AbleToScale=False): it could not be written.
	ReasonFailedUpdateScale = "FailedUpdateScale"
	// ReasonInvalidSelector (ScalingActive=False): the target's /scale has no
	// selector, or one that does not parse.
	ReasonInvalidSelector = "InvalidSelector"
	// ReasonAmbiguousSelector (ScalingActive=False): another autoscaler
	// selects the same pods.
	ReasonAmbiguousSelector = "AmbiguousSelector"
	// ReasonDryRunRescale is ours, both the AbleToScale=True reason and the
	// Normal event of a MemHpa in mode DryRun that would rescale its target
	// and did not ("Would set size N; reason: ..."), so that kubectl get
	// events tells it from a SuccessfulRescale.
	ReasonDryRunRescale = "DryRunRescale"
)

// Event reasons of the controller's I/O, the HPA's.
const (
	EventSuccessfulRescale  = "SuccessfulRescale"
	EventFailedRescale      = "FailedRescale"
	EventFailedGetScale     = "FailedGetScale"
	EventSelectorRequired   = "SelectorRequired"
	EventInvalidSelector    = "InvalidSelector"
	EventAmbiguousSelector  = "AmbiguousSelector"
	EventFailedUpdateStatus = "FailedUpdateStatus"
)

// EventOOMKilled is ours: the Warning event, once per kill (a new kill comes
// with a new restart count), that a counted container of the target was
// OOM-killed within --oom-kill-window (calc.Recommendation.OOMKills).
const EventOOMKilled = "OOMKilled"
