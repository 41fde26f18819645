package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/validation"
)

// PeerServer is the webhook's peer in the benchmark: the same rules served the
// way most operators serve theirs (KEDA among them), by controller-runtime's
// webhook server and its admission package, reading the cluster from a
// controller-runtime cache. It calls memhpa's exported validation and
// defaulting; its cross-object checks are written here against the cache,
// since memhpa's (webhook/internal/admission) are internal. Where they differ:
// they list the namespace's MemHpas and HPAs and filter them (the usual
// controller-runtime way; memhpa reads an index by target), read one after the
// other without a deadline, and word their warnings more briefly.
type PeerServer struct {
	URL    string // of /validate
	cancel context.CancelFunc
	done   chan error
}

// StartPeer starts the peer on a free loopback port, serving the key pair
// certName and keyName of certDir with the webhook's TLS settings (TLS 1.2 or
// later, HTTP/1.1 only, as kubebuilder's scaffold sets them), and returns once
// its cache has synced and it answers TLS.
func StartPeer(ctx context.Context, cfg *rest.Config, certDir, certName, keyName string) (*PeerServer, error) {
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), v1alpha1.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("peer cache: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv := webhook.NewServer(webhook.Options{
		Host: "127.0.0.1", Port: port, CertDir: certDir, CertName: certName, KeyName: keyName,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion, c.NextProtos = tls.VersionTLS12, []string{"http/1.1"} }},
	})
	srv.Register("/validate", admission.WithValidator[*v1alpha1.MemHpa](scheme, PeerValidator{Reader: c}))
	srv.Register("/mutate", admission.WithDefaulter[*v1alpha1.MemHpa](scheme, peerDefaulter{}))

	ctx, cancel := context.WithCancel(ctx)
	p := &PeerServer{URL: fmt.Sprintf("https://127.0.0.1:%d/validate", port), cancel: cancel, done: make(chan error, 2)}
	// The informers the checks read, started before the server answers.
	for _, obj := range []client.Object{&v1alpha1.MemHpa{}, &autoscalingv2.HorizontalPodAutoscaler{}, new(appsv1.Deployment),
		&appsv1.StatefulSet{}, &appsv1.ReplicaSet{}, &corev1.LimitRange{}} {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			cancel()
			return nil, fmt.Errorf("peer informer for %T: %w", obj, err)
		}
	}
	go func() { p.done <- c.Start(ctx) }()
	go func() { p.done <- srv.Start(ctx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	if !c.WaitForCacheSync(syncCtx) {
		p.Stop()
		return nil, errors.New("peer cache did not sync in a minute")
	}
	for srv.StartedChecker()(nil) != nil {
		select {
		case err := <-p.done:
			p.Stop()
			return nil, fmt.Errorf("peer stopped: %w", err)
		case <-syncCtx.Done():
			p.Stop()
			return nil, errors.New("peer server did not answer TLS in a minute")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p, nil
}

// Stop stops the server and its cache.
func (p *PeerServer) Stop() { p.cancel() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type peerDefaulter struct{}

func (peerDefaulter) Default(_ context.Context, obj *v1alpha1.MemHpa) error {
	v1alpha1.SetDefaults(obj)
	return nil
}

// PeerValidator is the peer's admission.Validator: memhpa's field rules
// (without the metadata the apiserver has validated, as memhpa's webhook),
// then the checks against the objects around the MemHpa in Reader.
type PeerValidator struct {
	Reader client.Reader
}

func (v PeerValidator) ValidateCreate(ctx context.Context, obj *v1alpha1.MemHpa) (admission.Warnings, error) {
	return v.validate(ctx, obj, validation.ValidateWithoutMetadata(obj), true)
}

func (v PeerValidator) ValidateUpdate(ctx context.Context, oldObj, newObj *v1alpha1.MemHpa) (admission.Warnings, error) {
	if !validation.SpecChanged(newObj, oldObj) {
		return nil, nil
	}
	return v.validate(ctx, newObj, validation.ValidateUpdateWithoutMetadata(newObj, oldObj), newObj.Spec.ScaleTargetRef != oldObj.Spec.ScaleTargetRef)
}

func (PeerValidator) ValidateDelete(context.Context, *v1alpha1.MemHpa) (admission.Warnings, error) {
	return nil, nil
}

func (v PeerValidator) validate(ctx context.Context, obj *v1alpha1.MemHpa, errs field.ErrorList, owners bool) (admission.Warnings, error) {
	var warnings admission.Warnings
	refPath := field.NewPath("spec", "scaleTargetRef")
	brokenRef := false
	for _, e := range errs {
		brokenRef = brokenRef || strings.HasPrefix(e.Field, refPath.String())
	}
	if !brokenRef { // a broken reference cannot be compared with other objects
		var crossErrs field.ErrorList
		crossErrs, warnings = v.crossObject(ctx, obj, owners, refPath)
		errs = append(errs, crossErrs...)
	}
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(v1alpha1.Kind("MemHpa"), obj.Name, errs)
	}
	return warnings, nil
}

// crossObject refuses a target that another MemHpa or an HPA scales, and
// warns when the target is missing or a container has no memory limit.
func (v PeerValidator) crossObject(ctx context.Context, obj *v1alpha1.MemHpa, owners bool, refPath *field.Path) (field.ErrorList, admission.Warnings) {
	ref := obj.Spec.ScaleTargetRef
	gk := v1alpha1.TargetGroupKind(ref)
	ns := client.InNamespace(obj.Namespace)
	var errs field.ErrorList
	var warnings admission.Warnings
	if owners {
		var memhpas v1alpha1.MemHpaList
		if err := v.Reader.List(ctx, &memhpas, ns); err != nil {
			warnings = append(warnings, fmt.Sprintf("could not list MemHpas: %v", err))
		}
		for _, m := range memhpas.Items {
			if m.Name != obj.Name && m.DeletionTimestamp == nil && m.Spec.ScaleTargetRef.Name == ref.Name && v1alpha1.TargetGroupKind(m.Spec.ScaleTargetRef) == gk {
				errs = append(errs, field.Forbidden(refPath, fmt.Sprintf("must not point at %s %q, which MemHpa %q already scales", gk, ref.Name, m.Name)))
			}
		}
		var hpas autoscalingv2.HorizontalPodAutoscalerList
		if err := v.Reader.List(ctx, &hpas, ns); err != nil {
			warnings = append(warnings, fmt.Sprintf("could not list HorizontalPodAutoscalers: %v", err))
		}
		for _, h := range hpas.Items {
			r := h.Spec.ScaleTargetRef
			if h.DeletionTimestamp == nil && r.Name == ref.Name &&
				v1alpha1.TargetGroupKind(v1alpha1.CrossVersionObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name}) == gk {
				errs = append(errs, field.Forbidden(refPath, fmt.Sprintf("must not point at %s %q, which HorizontalPodAutoscaler %q already scales", gk, ref.Name, h.Name)))
			}
		}
	}

	var target client.Object
	switch gk.String() {
	case "Deployment.apps":
		target = new(appsv1.Deployment)
	case "StatefulSet.apps":
		target = &appsv1.StatefulSet{}
	case "ReplicaSet.apps":
		target = &appsv1.ReplicaSet{}
	default:
		return errs, warnings // a custom workload: its pod template is not known
	}
	if err := v.Reader.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: ref.Name}, target); err != nil {
		return errs, append(warnings, fmt.Sprintf("could not read %s %q: %v", gk, ref.Name, err))
	}
	var template corev1.PodTemplateSpec
	switch t := target.(type) {
	case *appsv1.Deployment:
		template = t.Spec.Template
	case *appsv1.StatefulSet:
		template = t.Spec.Template
	case *appsv1.ReplicaSet:
		template = t.Spec.Template
	}
	var unlimited []string
	for _, c := range template.Spec.Containers {
		if limit, ok := c.Resources.Limits[corev1.ResourceMemory]; (obj.Spec.Container == "" || c.Name == obj.Spec.Container) && (!ok || limit.Sign() <= 0) {
			unlimited = append(unlimited, c.Name)
		}
	}
	if len(unlimited) > 0 && !v.limitRangeDefaultsMemory(ctx, obj.Namespace) {
		warnings = append(warnings, fmt.Sprintf("containers %q of %s %q have no memory limit", unlimited, gk, ref.Name))
	}
	return errs, warnings
}

func (v PeerValidator) limitRangeDefaultsMemory(ctx context.Context, namespace string) bool {
	var ranges corev1.LimitRangeList
	if err := v.Reader.List(ctx, &ranges, client.InNamespace(namespace)); err != nil {
		return false
	}
	for _, lr := range ranges.Items {
		for _, item := range lr.Spec.Limits {
			if limit, ok := item.Default[corev1.ResourceMemory]; ok && item.Type == corev1.LimitTypeContainer && limit.Sign() > 0 {
				return true
			}
		}
	}
	return false
}
