package benchmem

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// RealisticPod is a pod as the apiserver serves it for a typical Deployment:
// managed fields, a sidecar, env, volumes, probes and a full status. The
// figures only mean something if the pods are not toy objects.
func RealisticPod(i int) *corev1.Pod {
	name := fmt.Sprintf("web-%d-7c9d8f6b5d-%05d", i/5, i)
	ns := fmt.Sprintf("team-%d", (i/5)%20) // the five pods of a ReplicaSet share its namespace
	start := metav1.NewTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	mem := resource.MustParse("512Mi")
	container := func(n string) corev1.Container {
		return corev1.Container{
			Name:  n,
			Image: "registry.example/team/" + n + ":v1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{
				{Name: "LOG_LEVEL", Value: "info"}, {Name: "GOMAXPROCS", Value: "2"},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: mem, corev1.ResourceCPU: resource.MustParse("1")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: mem, corev1.ResourceCPU: resource.MustParse("250m")},
			},
			VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/livez", Port: intstr.FromInt32(8080)}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}},
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID(fmt.Sprintf("0000-%08d", i)), ResourceVersion: fmt.Sprint(1000 + i),
			GenerateName:      name[:len(name)-5],
			CreationTimestamp: start,
			Labels:            map[string]string{"app": fmt.Sprintf("web-%d", i/5), "pod-template-hash": "7c9d8f6b5d", "team": ns},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/restartedAt": "2026-11-01T12:00:00Z",
				"prometheus.io/scrape":              "true",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name[:len(name)-6], UID: "rs-uid", Controller: ptr(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &start, FieldsType: "FieldsV1",
					FieldsV1: &metav1.FieldsV1{Raw: []byte(managedFieldsSpec)}},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &start, FieldsType: "FieldsV1", Subresource: "status",
					FieldsV1: &metav1.FieldsV1{Raw: []byte(managedFieldsStatus)}},
			},
		},
		Spec: corev1.PodSpec{
			Containers:         []corev1.Container{container("app"), container("sidecar")},
			NodeName:           fmt.Sprintf("node-%d", i%50),
			ServiceAccountName: "default",
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}}},
			}}}},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
			},
		},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			StartTime: &start,
			PodIP:     "127.0.0.1", HostIP: "127.0.0.1",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", Ready: true, Image: "registry.example/team/app:v1.2.3", ImageID: "registry.example/team/app@sha256:0123456789abcdef", ContainerID: "containerd://0123456789abcdef0123456789abcdef", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}},
				{Name: "sidecar", Ready: true, Image: "registry.example/team/sidecar:v1.2.3", ImageID: "registry.example/team/sidecar@sha256:0123456789abcdef", ContainerID: "containerd://fedcba9876543210fedcba9876543210", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}},
			},
		},
	}
}

const managedFieldsSpec = `{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"rs-uid\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:env":{},"f:image":{},"f:name":{},"f:ports":{},"f:resources":{"f:limits":{"f:memory":{}},"f:requests":{"f:memory":{}}}},"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:terminationGracePeriodSeconds":{}}}`
const managedFieldsStatus = `{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{},"f:startTime":{}}}`

func ptr[T any](v T) *T { return &v }

// CacheBytes fills a pod informer from a fake clientset holding n realistic
// pods, with transform (nil for none), and returns how many bytes of heap the
// informer's cache holds once synced: live heap after a GC with the informer,
// minus live heap before it started. The fake clientset's own copies exist in
// both measurements and cancel out.
func CacheBytes(ctx context.Context, n int, transform cache.TransformFunc) (uint64, error) {
	return CacheProfile(ctx, n, transform, nil, nil)
}

// CacheProfile is CacheBytes that also writes heap profiles (runtime/pprof,
// gzipped protobuf) to base just before the informer starts and to synced once
// it holds every pod; either may be nil. `go tool pprof -diff_base` of the two
// shows what the cache holds, by allocating function. The profiles are as
// fine as runtime.MemProfileRate (go test -memprofilerate).
func CacheProfile(ctx context.Context, n int, transform cache.TransformFunc, base, synced io.Writer) (uint64, error) {
	objs := make([]k8sruntime.Object, 0, n)
	for i := range n {
		objs = append(objs, RealisticPod(i))
	}
	client := fake.NewClientset(objs...)
	objs = nil
	before := liveHeap()
	if err := writeHeapProfile(base); err != nil {
		return 0, err
	}

	informer, stop, err := syncedPodInformer(ctx, client, n, transform)
	if err != nil {
		return 0, err
	}
	defer stop()
	after := liveHeap()
	// The heap profile is as of the last GC, the one liveHeap just ran.
	if err := writeHeapProfile(synced); err != nil {
		return 0, err
	}
	runtime.KeepAlive(informer)
	runtime.KeepAlive(client)
	if after < before {
		return 0, nil
	}
	return after - before, nil
}

// syncedPodInformer starts a pod informer with transform (nil for none) and
// waits until it holds n pods. stop ends it.
func syncedPodInformer(ctx context.Context, client kubernetes.Interface, n int, transform cache.TransformFunc) (cache.SharedIndexInformer, func(), error) {
	opts := []kubeinformers.SharedInformerOption{}
	if transform != nil {
		opts = append(opts, kubeinformers.WithTransform(transform))
	}
	factory := kubeinformers.NewSharedInformerFactoryWithOptions(client, 0, opts...)
	informer := factory.Core().V1().Pods().Informer()
	runCtx, cancel := context.WithCancel(ctx)
	stop := func() {
		cancel()
		factory.Shutdown()
	}
	factory.Start(runCtx.Done())
	if !cache.WaitForCacheSync(runCtx.Done(), informer.HasSynced) {
		stop()
		return nil, nil, fmt.Errorf("pod informer did not sync")
	}
	if got := len(informer.GetStore().ListKeys()); got != n {
		stop()
		return nil, nil, fmt.Errorf("informer holds %d pods, want %d", got, n)
	}
	return informer, stop, nil
}

func writeHeapProfile(w io.Writer) error {
	if w == nil {
		return nil
	}
	if err := pprof.Lookup("heap").WriteTo(w, 0); err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	return nil
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
