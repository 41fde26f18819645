package controller

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/tools/cache"
)

// WorkloadInformers are the informers of the apps/v1 kinds whose scale the
// scaler reads from its cache instead of a GET of /scale per MemHpa and cycle
// (issue 15 item 1). Their factory should use TransformWorkload.
type WorkloadInformers struct {
	Deployments  appsinformers.DeploymentInformer
	StatefulSets appsinformers.StatefulSetInformer
	ReplicaSets  appsinformers.ReplicaSetInformer
}

// cachedScale reads the scale of one resource from an informer.
type cachedScale struct {
	synced cache.InformerSynced
	// get returns the scale of namespace/name, a NotFound error when the
	// object is not in the cache.
	get func(namespace, name string) (*autoscalingv1.Scale, error)
}

// scaleCaches are the cached scales of w by group and resource; nil for nil w.
func scaleCaches(w *WorkloadInformers) map[schema.GroupResource]cachedScale {
	if w == nil {
		return nil
	}
	apps := func(resource string) schema.GroupResource {
		return schema.GroupResource{Group: appsv1.GroupName, Resource: resource}
	}
	return map[schema.GroupResource]cachedScale{
		apps("deployments"): {synced: w.Deployments.Informer().HasSynced, get: func(ns, name string) (*autoscalingv1.Scale, error) {
			d, err := w.Deployments.Lister().Deployments(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return scaleOf(d.ObjectMeta, d.Spec.Replicas, d.Status.Replicas, d.Spec.Selector)
		}},
		apps("statefulsets"): {synced: w.StatefulSets.Informer().HasSynced, get: func(ns, name string) (*autoscalingv1.Scale, error) {
			s, err := w.StatefulSets.Lister().StatefulSets(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return scaleOf(s.ObjectMeta, s.Spec.Replicas, s.Status.Replicas, s.Spec.Selector)
		}},
		apps("replicasets"): {synced: w.ReplicaSets.Informer().HasSynced, get: func(ns, name string) (*autoscalingv1.Scale, error) {
			r, err := w.ReplicaSets.Lister().ReplicaSets(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return scaleOf(r.ObjectMeta, r.Spec.Replicas, r.Status.Replicas, r.Spec.Selector)
		}},
	}
}

// cachedScaleOf is the scale of namespace/name of gr from its informer, and
// whether there was one: false when gr has no informer, it has not synced,
// or it does not hold the object.
func (c *Controller) cachedScaleOf(gr schema.GroupResource, namespace, name string) (*autoscalingv1.Scale, bool) {
	cached, ok := c.scaleCaches[gr]
	if !ok || !cached.synced() {
		return nil, false
	}
	sc, err := cached.get(namespace, name)
	return sc, err == nil
}

// scaleOf is the /scale the apiserver serves for an apps/v1 object: the
// object's name, namespace, UID, creation time and resourceVersion,
// spec.replicas, status.replicas and the selector as a string
// (kubernetes pkg/registry/apps/deployment/storage scaleFromDeployment, and
// its StatefulSet and ReplicaSet twins). The resourceVersion is the
// object's, so a write of this scale conflicts when the object changed since
// it was cached, as one of a scale read by GET does.
func scaleOf(m metav1.ObjectMeta, specReplicas *int32, statusReplicas int32, sel *metav1.LabelSelector) (*autoscalingv1.Scale, error) {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("convert the selector of %s: %w", m.Name, err)
	}
	// The apiserver defaults an unset spec.replicas of these kinds to 1.
	replicas := int32(1)
	if specReplicas != nil {
		replicas = *specReplicas
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
			CreationTimestamp: m.CreationTimestamp,
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: statusReplicas, Selector: selector.String()},
	}, nil
}

// TransformWorkload is the transform of the Deployment, StatefulSet and
// ReplicaSet informers: it keeps what scaleOf reads (name, namespace, UID,
// creation time, resourceVersion, spec.replicas, the selector,
// status.replicas) and drops the pod template, conditions, managed fields
// and the rest: about 1.8 KB a cached object, most of it the empty structs
// of the typed object (an apps/v1 ReplicaSet is 1,168 bytes before any
// field is set). Anything else, such as a tombstone, passes through;
// the input is never modified.
func TransformWorkload(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{
			ObjectMeta: slimWorkloadMeta(o.ObjectMeta),
			Spec:       appsv1.DeploymentSpec{Replicas: copied(o.Spec.Replicas), Selector: o.Spec.Selector.DeepCopy()},
			Status:     appsv1.DeploymentStatus{Replicas: o.Status.Replicas},
		}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{
			ObjectMeta: slimWorkloadMeta(o.ObjectMeta),
			Spec:       appsv1.StatefulSetSpec{Replicas: copied(o.Spec.Replicas), Selector: o.Spec.Selector.DeepCopy()},
			Status:     appsv1.StatefulSetStatus{Replicas: o.Status.Replicas},
		}, nil
	case *appsv1.ReplicaSet:
		return &appsv1.ReplicaSet{
			ObjectMeta: slimWorkloadMeta(o.ObjectMeta),
			Spec:       appsv1.ReplicaSetSpec{Replicas: copied(o.Spec.Replicas), Selector: o.Spec.Selector.DeepCopy()},
			Status:     appsv1.ReplicaSetStatus{Replicas: o.Status.Replicas},
		}, nil
	}
	return obj, nil
}

// copied is a copy of *p, nil for nil: the cache holds nothing of the
// object it was handed.
func copied(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func slimWorkloadMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
	}
}
