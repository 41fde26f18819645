package chart

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/memhpa/memhpa/test/harness"
)

// Names the chart gives to a release called "memhpa" (the release name holds
// the chart name, so the prefix is the release name alone).
const (
	fullname       = "memhpa"
	webhookService = "memhpa-webhook"
	servingCert    = "memhpa-serving"
	servingSecret  = "memhpa-serving-tls"
	caCert         = "memhpa-ca"
)

// expectation is what one value set in charts/memhpa/ci must render.
type expectation struct {
	replicas       int32
	certManager    bool
	externalIssuer string // issuerRef.name, when the chart's CA is not used
	timeout        int32
	failurePolicy  admissionregistrationv1.FailurePolicyType
	leaderElection bool
	leaseName      string
	// leaseNames are the Leases the Role may update: leaseName alone
	// without shards.
	leaseNames     []string
	pdb            bool
	serviceMonitor bool
	networkPolicy  bool
	// clientCA is the ConfigMap of webhook.clientCA.configMap, when set.
	clientCA string
	// scale is the apiGroup -> resources whose /scale the ServiceAccount may get and update.
	scale map[string][]string
	// scalerArgs must all be among the scaler container's arguments.
	scalerArgs []string
}

var defaultScale = map[string][]string{"apps": {"deployments", "statefulsets", "replicasets"}}

var expectations = map[string]expectation{
	"default-values.yaml": {
		replicas: 2, certManager: true, timeout: 5, failurePolicy: admissionregistrationv1.Fail,
		leaderElection: true, leaseName: "memhpa-scaler", pdb: true, scale: defaultScale,
		scalerArgs: []string{"--prom-name=prometheus", "--prom-namespace=kube-system", "--prom-port=9090",
			"--prom-scheme=http", "--leader-elect=true", "--leader-election-namespace=" + releaseNS,
			"--leader-election-id=memhpa-scaler", "--sync-period=30s", "--tolerance=0.1", "--health-port=8082",
			"--prometheus-max-response-bytes=16777216"},
	},
	"no-cert-manager-values.yaml": {
		replicas: 2, certManager: false, timeout: 5, failurePolicy: admissionregistrationv1.Fail,
		leaderElection: true, leaseName: "memhpa-scaler", pdb: true, scale: defaultScale,
	},
	"single-replica-values.yaml": {
		replicas: 1, certManager: true, timeout: 5, failurePolicy: admissionregistrationv1.Ignore,
		leaderElection: false, pdb: false, scale: defaultScale,
		scalerArgs: []string{"--leader-elect=false"},
	},
	"full-values.yaml": {
		replicas: 3, certManager: true, externalIssuer: "corp-ca", timeout: 10,
		failurePolicy: admissionregistrationv1.Fail, leaderElection: true, leaseName: "memhpa-leader",
		pdb: true, serviceMonitor: true, networkPolicy: true, clientCA: "apiserver-client-ca",
		scale: map[string][]string{"apps": {"deployments", "statefulsets"}, "argoproj.io": {"rollouts"}},
		scalerArgs: []string{"--prometheus-url=https://prometheus.monitoring.svc:9091",
			"--prometheus-bearer-token-file=/etc/prometheus-auth/token",
			"--prometheus-ca-file=/etc/prometheus-auth/ca.crt", "--prometheus-timeout=5s", "--tolerance=0.05",
			`--memory-metric-selector=job="kubelet",metrics_path="/metrics/cadvisor"`, "--prometheus-max-response-bytes=33554432",
			"--shards=3"},
		leaseNames: []string{"memhpa-leader-0", "memhpa-leader-1", "memhpa-leader-2"},
	},
}

// TestTemplateValueSets renders the chart with every value set in ci/ and
// checks what the issue asks of each object.
func TestTemplateValueSets(t *testing.T) {
	for _, file := range valueSets(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			want, ok := expectations[name]
			if !ok {
				t.Fatalf("value set %s has no expectation in template_test.go; add one", name)
			}
			r := render(t, "-f", file)
			checkLabels(t, r)
			pod := checkDeployment(t, r, want)
			checkRestricted(t, pod)
			checkWebhookConfigurations(t, r, want)
			checkRBAC(t, r, want)
			if want.certManager {
				checkCertManager(t, r, want)
			} else {
				checkGeneratedTLS(t, r)
			}
			checkPDB(t, r, want)
			if got := len(r.byKind("ServiceMonitor")) == 1; got != want.serviceMonitor {
				t.Errorf("ServiceMonitor rendered = %v, want %v", got, want.serviceMonitor)
			}
			if got := len(r.byKind("NetworkPolicy")) == 1; got != want.networkPolicy {
				t.Errorf("NetworkPolicy rendered = %v, want %v", got, want.networkPolicy)
			} else if got {
				checkNetworkPolicy(t, r, file)
			}
			if !want.serviceMonitor && r.get("Service", "memhpa-metrics") != nil {
				t.Error("metrics Service rendered without the ServiceMonitor")
			}
		})
	}
	for name := range expectations {
		if !slices.ContainsFunc(valueSets(t), func(f string) bool { return filepath.Base(f) == name }) {
			t.Errorf("expectation %s has no value set in charts/memhpa/ci", name)
		}
	}
}

// TestTemplateWithoutKubeVersion: a plain `helm template` (no --kube-version)
// renders the chart. Helm checks the chart's kubeVersion against its built-in
// default, which is v1.20 unless the build stamps the Kubernetes version its
// module uses, as helm's own release build does (hack/tools.sh).
func TestTemplateWithoutKubeVersion(t *testing.T) {
	out, err := runHelm(t, "template", releaseName, chartDir(t), "--namespace", releaseNS)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rendered{objects: objs}.byKind("Deployment")); got != 1 {
		t.Errorf("rendered %d Deployments, want 1", got)
	}
}

// checkLabels: every object carries the common labels from _helpers.tpl.
func checkLabels(t *testing.T, r rendered) {
	t.Helper()
	for _, o := range r.objects {
		l := o.GetLabels()
		for k, v := range map[string]string{
			"app.kubernetes.io/name":       "memhpa",
			"app.kubernetes.io/instance":   releaseName,
			"app.kubernetes.io/managed-by": "Helm",
			"app.kubernetes.io/part-of":    "memhpa",
		} {
			if l[k] != v {
				t.Errorf("%s %s: label %s = %q, want %q", o.GetKind(), o.GetName(), k, l[k], v)
			}
		}
		if !strings.HasPrefix(l["helm.sh/chart"], "memhpa-") || l["app.kubernetes.io/version"] == "" {
			t.Errorf("%s %s: missing helm.sh/chart or app.kubernetes.io/version label: %v", o.GetKind(), o.GetName(), l)
		}
		if !strings.HasPrefix(o.GetName(), fullname) {
			t.Errorf("%s %s: name does not start with %q", o.GetKind(), o.GetName(), fullname)
		}
	}
}

var selectorLabels = map[string]string{"app.kubernetes.io/name": "memhpa", "app.kubernetes.io/instance": releaseName}

func checkDeployment(t *testing.T, r rendered, want expectation) corev1.PodSpec {
	t.Helper()
	d := into[appsv1.Deployment](t, r.one(t, "Deployment"))
	if d.Spec.Replicas == nil || *d.Spec.Replicas != want.replicas {
		t.Errorf("replicas = %v, want %d", d.Spec.Replicas, want.replicas)
	}
	if got := d.Spec.Selector.MatchLabels; !maps.Equal(got, selectorLabels) {
		t.Errorf("selector = %v, want exactly %v (never the version: selectors are immutable)", got, selectorLabels)
	}
	for k, v := range selectorLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s = %q, want %q", k, d.Spec.Template.Labels[k], v)
		}
	}
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rollingUpdate = %+v, want maxUnavailable 0", ru)
	}
	pod := d.Spec.Template.Spec
	var names []string
	for _, c := range pod.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"webhook", "scaler"}) {
		t.Fatalf("containers = %v, want [webhook scaler]", names)
	}
	if want.replicas > 1 && (pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil) {
		t.Error("no pod anti-affinity with several replicas")
	}
	if want.replicas == 2 {
		aa := pod.Affinity.PodAntiAffinity
		if len(aa.PreferredDuringSchedulingIgnoredDuringExecution) != 1 || len(aa.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
			t.Errorf("default anti-affinity is not soft: %+v", aa)
		}
	}

	wh := pod.Containers[0]
	// /readyz fails until a certificate is loaded and the informer caches
	// have synced, and again once shutdown begins; /healthz only knows the
	// certificate, so a pod probed there would take reviews it answers from
	// live reads before the caches are up, and during the drain.
	if p := wh.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "webhook-http" {
		t.Errorf("webhook readinessProbe = %+v, want GET /readyz on webhook-http", p)
	}
	// /livez stays green while the process serves: a slow informer sync or a
	// missing certificate must not restart the container.
	if p := wh.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/livez" || p.HTTPGet.Port.String() != "webhook-http" {
		t.Errorf("webhook livenessProbe = %+v, want GET /livez on webhook-http", p)
	}
	if l := wh.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds < 1 {
		t.Errorf("webhook has no preStop sleep: %+v", l)
	}
	assertArgs(t, "webhook", wh.Args, "--secure-port=9443", "--health-port=8081",
		"--tls-cert-file=/tls/tls.crt", "--tls-private-key-file=/tls/tls.key",
		"--max-in-flight-reviews=64", "--max-in-flight-body-bytes=8Mi")
	checkClientCA(t, pod, wh, want)
	var mount *corev1.VolumeMount
	for i := range wh.VolumeMounts {
		if wh.VolumeMounts[i].MountPath == "/tls" {
			mount = &wh.VolumeMounts[i]
		}
	}
	if mount == nil || mount.SubPath != "" || mount.SubPathExpr != "" {
		t.Errorf("serving certificate mount = %+v, want the directory /tls without subPath", mount)
	} else {
		vol := findVolume(pod, mount.Name)
		if vol == nil || vol.Secret == nil || vol.Secret.SecretName != servingSecret {
			t.Errorf("volume %s = %+v, want Secret %s", mount.Name, vol, servingSecret)
		}
	}
	for _, c := range pod.Containers {
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" {
				t.Errorf("container %s mounts %s with subPath", c.Name, m.Name)
			}
		}
	}

	sc := pod.Containers[1]
	if sc.ReadinessProbe != nil {
		t.Error("scaler has a readiness probe: a standby scaler would take the webhook out of the Service")
	}
	if p := sc.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("scaler livenessProbe = %+v, want GET /healthz", p)
	}
	assertArgs(t, "scaler", sc.Args, want.scalerArgs...)
	if want.leaderElection {
		assertArgs(t, "scaler", sc.Args, "--leader-election-id="+want.leaseName)
	}

	svc := into[corev1.Service](t, r.get("Service", webhookService))
	if !maps.Equal(svc.Spec.Selector, selectorLabels) {
		t.Errorf("Service selector = %v, want %v", svc.Spec.Selector, selectorLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "https" {
		t.Errorf("Service ports = %+v, want one port to https", svc.Spec.Ports)
	}
	return pod
}

// checkRestricted applies the Pod Security "restricted" rules (and our own
// read-only root filesystem) to the pod. The e2e test proves the same against
// a real apiserver; this one names the broken rule without a cluster.
func checkRestricted(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("pod uses a host namespace")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, c := range pod.Containers {
		csc := c.SecurityContext
		if csc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		nonRoot := (csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) || (csc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("container %s: runAsNonRoot is not true", c.Name)
		}
		uid := csc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		if uid == nil || *uid != 65532 {
			t.Errorf("container %s: runAsUser = %v, want 65532", c.Name, uid)
		}
		if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if csc.Privileged != nil && *csc.Privileged {
			t.Errorf("container %s is privileged", c.Name)
		}
		if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s does not drop ALL capabilities", c.Name)
		} else if len(csc.Capabilities.Add) > 0 {
			t.Errorf("container %s adds capabilities %v", c.Name, csc.Capabilities.Add)
		}
		sp := csc.SeccompProfile
		if sp == nil {
			sp = psc.SeccompProfile
		}
		if sp == nil || (sp.Type != corev1.SeccompProfileTypeRuntimeDefault && sp.Type != corev1.SeccompProfileTypeLocalhost) {
			t.Errorf("container %s: seccompProfile = %+v, want RuntimeDefault", c.Name, sp)
		}
		if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				t.Errorf("container %s uses hostPort %d", c.Name, p.HostPort)
			}
		}
	}
}

func checkWebhookConfigurations(t *testing.T, r rendered, want expectation) {
	t.Helper()
	m := into[admissionregistrationv1.MutatingWebhookConfiguration](t, r.one(t, "MutatingWebhookConfiguration"))
	v := into[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.one(t, "ValidatingWebhookConfiguration"))
	if len(m.Webhooks) != 1 || len(v.Webhooks) != 1 {
		t.Fatalf("want one webhook in each configuration, got %d mutating and %d validating", len(m.Webhooks), len(v.Webhooks))
	}
	type common struct {
		kind        string
		annotations map[string]string
		versions    []string
		sideEffects *admissionregistrationv1.SideEffectClass
		match       *admissionregistrationv1.MatchPolicyType
		failure     *admissionregistrationv1.FailurePolicyType
		timeout     *int32
		rules       []admissionregistrationv1.RuleWithOperations
		client      admissionregistrationv1.WebhookClientConfig
		path        string
	}
	mw, vw := m.Webhooks[0], v.Webhooks[0]
	for _, c := range []common{
		{"Mutating", m.Annotations, mw.AdmissionReviewVersions, mw.SideEffects, mw.MatchPolicy, mw.FailurePolicy, mw.TimeoutSeconds, mw.Rules, mw.ClientConfig, "/mutate"},
		{"Validating", v.Annotations, vw.AdmissionReviewVersions, vw.SideEffects, vw.MatchPolicy, vw.FailurePolicy, vw.TimeoutSeconds, vw.Rules, vw.ClientConfig, "/validate"},
	} {
		if !slices.Equal(c.versions, []string{"v1"}) {
			t.Errorf("%s: admissionReviewVersions = %v, want [v1]", c.kind, c.versions)
		}
		if c.sideEffects == nil || *c.sideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects is not None", c.kind)
		}
		if c.match == nil || *c.match != admissionregistrationv1.Equivalent {
			t.Errorf("%s: matchPolicy is not Equivalent", c.kind)
		}
		if c.failure == nil || *c.failure != want.failurePolicy {
			t.Errorf("%s: failurePolicy = %v, want %s", c.kind, c.failure, want.failurePolicy)
		}
		if c.timeout == nil || *c.timeout != want.timeout {
			t.Errorf("%s: timeoutSeconds = %v, want %d", c.kind, c.timeout, want.timeout)
		}
		wantRule := admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{"autoscaling.memhpa.io"}, APIVersions: []string{"v1alpha1"},
				Resources: []string{"memhpas"}},
		}
		if len(c.rules) != 1 || !slices.Equal(c.rules[0].Operations, wantRule.Operations) ||
			!slices.Equal(c.rules[0].APIGroups, wantRule.APIGroups) || !slices.Equal(c.rules[0].APIVersions, wantRule.APIVersions) ||
			!slices.Equal(c.rules[0].Resources, wantRule.Resources) {
			t.Errorf("%s: rules = %+v, want memhpas CREATE/UPDATE only", c.kind, c.rules)
		}
		s := c.client.Service
		if s == nil || s.Name != webhookService || s.Namespace != releaseNS || s.Path == nil || *s.Path != c.path {
			t.Errorf("%s: clientConfig.service = %+v, want %s/%s path %s", c.kind, s, releaseNS, webhookService, c.path)
		}
		inject := c.annotations["cert-manager.io/inject-ca-from"]
		if want.certManager {
			if inject != releaseNS+"/"+servingCert {
				t.Errorf("%s: inject-ca-from = %q, want %s/%s", c.kind, inject, releaseNS, servingCert)
			}
			if len(c.client.CABundle) != 0 {
				t.Errorf("%s: caBundle set although cert-manager injects it", c.kind)
			}
		} else if inject != "" || len(c.client.CABundle) == 0 {
			t.Errorf("%s: without cert-manager want a caBundle and no inject-ca-from, got %q and %d bytes", c.kind, inject, len(c.client.CABundle))
		}
	}
	if !slices.Equal(m.Webhooks[0].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.CABundle) {
		t.Error("the two configurations trust different CA bundles")
	}
}

func checkRBAC(t *testing.T, r rendered, want expectation) {
	t.Helper()
	cr := into[rbacv1.ClusterRole](t, r.one(t, "ClusterRole"))
	rules := cr.Rules
	var role *rbacv1.Role
	if want.leaderElection {
		role = into[rbacv1.Role](t, r.one(t, "Role"))
		if role.Namespace != releaseNS {
			t.Errorf("leader election Role in namespace %q, want %s", role.Namespace, releaseNS)
		}
		rules = append(rules, role.Rules...)
		var named bool
		names := want.leaseNames
		if names == nil {
			names = []string{want.leaseName}
		}
		for _, rule := range role.Rules {
			if !slices.Equal(rule.Resources, []string{"leases"}) {
				t.Errorf("Role grants %v; want leases only", rule.Resources)
			}
			if slices.Contains(rule.Verbs, "update") {
				named = slices.Equal(rule.ResourceNames, names)
			}
		}
		if !named {
			t.Errorf("lease update is not limited to %v", names)
		}
	} else if len(r.byKind("Role")) != 0 {
		t.Error("a leader election Role without leader election")
	}
	for _, rule := range rules {
		for _, s := range slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames) {
			if strings.Contains(s, "*") {
				t.Errorf("wildcard %q in rule %+v", s, rule)
			}
		}
		if slices.Contains(rule.Resources, "secrets") {
			t.Errorf("rule grants secrets: %+v", rule)
		}
		if slices.ContainsFunc(rule.Verbs, func(v string) bool {
			return v == "delete" || v == "deletecollection" || v == "escalate" || v == "bind" || v == "impersonate"
		}) {
			t.Errorf("rule grants a destructive or escalating verb: %+v", rule)
		}
	}
	checkClusterRoleReads(t, cr.Rules)
	got := map[string][]string{}
	for _, rule := range cr.Rules {
		for _, res := range rule.Resources {
			if base, ok := strings.CutSuffix(res, "/scale"); ok {
				if !slices.Equal(rule.Verbs, []string{"get", "update"}) {
					t.Errorf("scale rule verbs = %v, want [get update]", rule.Verbs)
				}
				for _, g := range rule.APIGroups {
					got[g] = append(got[g], base)
				}
			}
		}
	}
	if len(got) != len(want.scale) {
		t.Errorf("scale rules = %v, want %v", got, want.scale)
	}
	for g, res := range want.scale {
		if !slices.Equal(got[g], res) {
			t.Errorf("scale rules for group %q = %v, want %v", g, got[g], res)
		}
	}
	sa := r.one(t, "ServiceAccount")
	crb := into[rbacv1.ClusterRoleBinding](t, r.one(t, "ClusterRoleBinding"))
	if len(crb.Subjects) != 1 || crb.Subjects[0].Name != sa.GetName() || crb.Subjects[0].Namespace != releaseNS || crb.RoleRef.Name != cr.Name {
		t.Errorf("ClusterRoleBinding = %+v, want %s bound to %s/%s", crb, cr.Name, releaseNS, sa.GetName())
	}
}

// clusterRoleGrants are the ClusterRole's grants other than /scale, by
// "group/resource", and who needs them. The check goes both ways: nothing
// more than needed, nothing missing.
var clusterRoleGrants = map[string][]string{
	// Scaler informer and status; webhook informer (another MemHpa on the target).
	"autoscaling.memhpa.io/memhpas":        {"get", "list", "watch"},
	"autoscaling.memhpa.io/memhpas/status": {"patch", "update"},
	// Scaler informer: readiness and limits of the targets' pods.
	"/pods": {"list", "watch"},
	// Scaler informers of the targets' scale (list, watch); webhook informers
	// of pod templates, with a get for one not cached yet (get; ReplicaSets:
	// the webhook reads them by get only).
	"apps/deployments":  {"get", "list", "watch"},
	"apps/statefulsets": {"get", "list", "watch"},
	"apps/replicasets":  {"get", "list", "watch"},
	// Webhook informer: an HPA on the same target (get: its live fallback).
	"autoscaling/horizontalpodautoscalers": {"get", "list", "watch"},
	// Webhook informer: a LimitRange's default memory limit.
	"/limitranges": {"list", "watch"},
	// Webhook informer (while the VPA API is served): a VPA moving the target's memory.
	"autoscaling.k8s.io/verticalpodautoscalers": {"list", "watch"},
	// Scaler events.
	"/events":              {"create", "patch"},
	"events.k8s.io/events": {"create", "patch"},
}

func checkClusterRoleReads(t *testing.T, rules []rbacv1.PolicyRule) {
	t.Helper()
	got := map[string][]string{}
	for _, rule := range rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				if strings.HasSuffix(res, "/scale") {
					continue
				}
				key := g + "/" + res
				got[key] = append(got[key], rule.Verbs...)
			}
		}
	}
	for key, verbs := range got {
		slices.Sort(verbs)
		got[key] = slices.Compact(verbs)
	}
	for key, want := range clusterRoleGrants {
		if !slices.Equal(got[key], want) {
			t.Errorf("ClusterRole grants %s %v, want %v", key, got[key], want)
		}
	}
	for key, verbs := range got {
		if _, ok := clusterRoleGrants[key]; !ok {
			t.Errorf("ClusterRole grants %s %v, which nothing needs", key, verbs)
		}
	}
}

// checkCertManager follows the chain selfSigned Issuer -> CA Certificate -> CA
// Issuer -> serving Certificate, or serving Certificate -> external issuer.
func checkCertManager(t *testing.T, r rendered, want expectation) {
	t.Helper()
	serving := r.get("Certificate", servingCert)
	if serving == nil {
		t.Fatalf("no Certificate %s", servingCert)
	}
	if got, _, _ := unstructured.NestedString(serving.Object, "spec", "secretName"); got != servingSecret {
		t.Errorf("serving Certificate secretName = %q, want %s (the Secret the pod mounts)", got, servingSecret)
	}
	dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	for _, n := range []string{webhookService + "." + releaseNS + ".svc", webhookService + "." + releaseNS + ".svc.cluster.local"} {
		if !slices.Contains(dns, n) {
			t.Errorf("serving Certificate dnsNames %v lack %s", dns, n)
		}
	}
	issuer, _, _ := unstructured.NestedString(serving.Object, "spec", "issuerRef", "name")
	if want.externalIssuer != "" {
		if issuer != want.externalIssuer {
			t.Errorf("serving Certificate issuer = %q, want %q", issuer, want.externalIssuer)
		}
		if n := len(r.byKind("Issuer")); n != 0 {
			t.Errorf("%d Issuers rendered although an external issuer is set", n)
		}
		return
	}
	caIssuer := r.get("Issuer", issuer)
	if caIssuer == nil {
		t.Fatalf("serving Certificate refers to Issuer %q, which is not rendered", issuer)
	}
	caSecret, _, _ := unstructured.NestedString(caIssuer.Object, "spec", "ca", "secretName")
	ca := r.get("Certificate", caCert)
	if ca == nil {
		t.Fatalf("no CA Certificate %s", caCert)
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
		t.Error("CA Certificate has no isCA: true")
	}
	if s, _, _ := unstructured.NestedString(ca.Object, "spec", "secretName"); s != caSecret || s == "" {
		t.Errorf("CA Issuer reads Secret %q, CA Certificate writes %q", caSecret, s)
	}
	selfName, _, _ := unstructured.NestedString(ca.Object, "spec", "issuerRef", "name")
	self := r.get("Issuer", selfName)
	if self == nil {
		t.Fatalf("CA Certificate refers to Issuer %q, which is not rendered", selfName)
	}
	if _, ok, _ := unstructured.NestedMap(self.Object, "spec", "selfSigned"); !ok {
		t.Errorf("Issuer %s is not selfSigned", selfName)
	}
}

// checkGeneratedTLS: the chart's own CA in the caBundle verifies the Secret's
// serving certificate for the Service's DNS name.
func checkGeneratedTLS(t *testing.T, r rendered) {
	t.Helper()
	if n := len(r.byKind("Certificate")) + len(r.byKind("Issuer")); n != 0 {
		t.Errorf("%d cert-manager objects rendered with certManager.enabled=false", n)
	}
	s := r.get("Secret", servingSecret)
	if s == nil {
		t.Fatalf("no Secret %s", servingSecret)
	}
	secret := into[corev1.Secret](t, s)
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %s, want %s", secret.Type, corev1.SecretTypeTLS)
	}
	v := into[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.one(t, "ValidatingWebhookConfiguration"))
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(v.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("caBundle holds no PEM certificate")
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatal("tls.crt is not PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{webhookService + "." + releaseNS + ".svc", webhookService + "." + releaseNS + ".svc.cluster.local"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate does not verify for %s against the caBundle: %v", name, err)
		}
	}
	if len(secret.Data["tls.key"]) == 0 || len(secret.Data["ca.crt"]) == 0 {
		t.Error("Secret lacks tls.key or ca.crt")
	}
}

func checkPDB(t *testing.T, r rendered, want expectation) {
	t.Helper()
	pdbs := r.byKind("PodDisruptionBudget")
	if !want.pdb {
		if len(pdbs) != 0 {
			t.Error("a PodDisruptionBudget with one replica would block every drain")
		}
		return
	}
	if len(pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget, got %d", len(pdbs))
	}
	pdb := into[policyv1.PodDisruptionBudget](t, pdbs[0])
	if !maps.Equal(pdb.Spec.Selector.MatchLabels, selectorLabels) {
		t.Errorf("PDB selector = %v, want %v", pdb.Spec.Selector.MatchLabels, selectorLabels)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Errorf("PDB minAvailable = %v, want >= 1", pdb.Spec.MinAvailable)
	}
}

// checkClientCA: with webhook.clientCA the webhook requires client
// certificates of the bundle in the ConfigMap, mounted as a directory; without
// it, it requires none.
func checkClientCA(t *testing.T, pod corev1.PodSpec, wh corev1.Container, want expectation) {
	t.Helper()
	hasFlag := slices.ContainsFunc(wh.Args, func(a string) bool { return strings.HasPrefix(a, "--client-ca-file") })
	if want.clientCA == "" {
		if hasFlag {
			t.Errorf("webhook args %v require client certificates, but webhook.clientCA is not set", wh.Args)
		}
		return
	}
	assertArgs(t, "webhook", wh.Args, "--client-ca-file=/client-ca/ca.crt")
	i := slices.IndexFunc(wh.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/client-ca" })
	if i < 0 || wh.VolumeMounts[i].SubPath != "" || !wh.VolumeMounts[i].ReadOnly {
		t.Fatalf("webhook mounts %+v, want /client-ca read-only without subPath", wh.VolumeMounts)
	}
	vol := findVolume(pod, wh.VolumeMounts[i].Name)
	if vol == nil || vol.ConfigMap == nil || vol.ConfigMap.Name != want.clientCA || vol.ConfigMap.Optional != nil && *vol.ConfigMap.Optional {
		t.Errorf("client CA volume = %+v, want ConfigMap %s, not optional", vol, want.clientCA)
	}
}

// checkNetworkPolicy: the policy that charts/memhpa/README.md documents: the
// pods take ingress only on the webhook port, from webhookFrom, and on the
// probe and metrics ports, from metricsFrom, as the value set gives them.
func checkNetworkPolicy(t *testing.T, r rendered, valuesFile string) {
	t.Helper()
	np := into[networkingv1.NetworkPolicy](t, r.one(t, "NetworkPolicy"))
	var values struct {
		NetworkPolicy struct {
			WebhookFrom []networkingv1.NetworkPolicyPeer `json:"webhookFrom"`
			MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom"`
		} `json:"networkPolicy"`
	}
	raw, err := os.ReadFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, selectorLabels) || !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("NetworkPolicy selects %v for %v, want the pods for Ingress", np.Spec.PodSelector.MatchLabels, np.Spec.PolicyTypes)
	}
	type rule struct {
		ports []string
		from  []networkingv1.NetworkPolicyPeer
	}
	want := []rule{{[]string{"https"}, values.NetworkPolicy.WebhookFrom}, {[]string{"webhook-http", "scaler-http"}, values.NetworkPolicy.MetricsFrom}}
	if len(np.Spec.Ingress) != len(want) {
		t.Fatalf("NetworkPolicy ingress = %+v, want %d rules", np.Spec.Ingress, len(want))
	}
	for i, w := range want {
		in := np.Spec.Ingress[i]
		var ports []string
		for _, p := range in.Ports {
			ports = append(ports, p.Port.String())
		}
		if !slices.Equal(ports, w.ports) || !reflect.DeepEqual(in.From, w.from) {
			t.Errorf("NetworkPolicy ingress %d = ports %v from %+v, want ports %v from %+v", i, ports, in.From, w.ports, w.from)
		}
	}
}

func assertArgs(t *testing.T, container string, args []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("%s args %v lack %s", container, args, w)
		}
	}
}

func findVolume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// TestArgsAreFlagsOfTheBinaries runs each binary, built by hack/build.sh as
// the images build it, with the arguments the chart renders (every value set)
// followed by --help: a flag the binary does not define fails the parse.
func TestArgsAreFlagsOfTheBinaries(t *testing.T) {
	root := repoRoot(t)
	ctx := context.Background()
	for _, file := range valueSets(t) {
		r := render(t, "-f", file)
		pod := into[appsv1.Deployment](t, r.one(t, "Deployment")).Spec.Template.Spec
		for _, c := range pod.Containers {
			t.Run(filepath.Base(file)+"/"+c.Name, func(t *testing.T) {
				bin, err := harness.ProductBinary(ctx, root, c.Name)
				if err != nil {
					t.Fatal(err)
				}
				cmd := exec.CommandContext(ctx, bin, append(slices.Clone(c.Args), "--help")...)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("%s %v --help: %v (a refused flag exits 2)", c.Name, c.Args, err)
				}
				for _, bad := range []string{"unknown flag", "flag provided but not defined", "unknown shorthand", "invalid argument", "invalid value"} {
					if strings.Contains(string(out), bad) {
						t.Fatalf("%s refuses the chart's arguments %v:\n%s", c.Name, c.Args, out)
					}
				}
				if !strings.Contains(string(out), "-health-port") {
					t.Fatalf("%s --help printed no flag list:\n%s", c.Name, out)
				}
			})
		}
	}
}

// TestPrometheusClientValues: the memory metric selector reaches the scaler
// exactly as written, whatever YAML would make of its quotes, colons and
// hashes; the response cap renders as a whole number; a bearer token without
// https fails the install unless allowed, as the scaler would refuse it.
func TestPrometheusClientValues(t *testing.T) {
	scalerArgs := func(t *testing.T, values string, extra ...string) []string {
		t.Helper()
		// helm splits -f on commas: a test name must hold none.
		file := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		r := render(t, append([]string{"-f", file}, extra...)...)
		for _, c := range into[appsv1.Deployment](t, r.one(t, "Deployment")).Spec.Template.Spec.Containers {
			if c.Name == "scaler" {
				return c.Args
			}
		}
		t.Fatal("no scaler container")
		return nil
	}
	for _, tc := range []struct {
		name   string
		values string
		want   []string
		absent string // an argument prefix that must not be there
	}{
		{name: "defaults", values: "{}", want: []string{"--prometheus-max-response-bytes=16777216"}, absent: "--memory-metric-selector"},
		{
			name:   "the cAdvisor job",
			values: "scaler:\n  memoryMetricSelector: 'job=\"kubelet\",metrics_path=\"/metrics/cadvisor\"'\n",
			want:   []string{`--memory-metric-selector=job="kubelet",metrics_path="/metrics/cadvisor"`},
		},
		{
			name:   "YAML's special characters stay",
			values: "scaler:\n  memoryMetricSelector: 'container!~\"a: b #c\", job=`x`'\n",
			want:   []string{"--memory-metric-selector=container!~\"a: b #c\", job=`x`"},
		},
		{
			name:   "a large cap is not written as a float",
			values: "prometheus:\n  maxResponseBytes: 134217728\n",
			want:   []string{"--prometheus-max-response-bytes=134217728"},
		},
		{
			name:   "a bearer token over http when allowed",
			values: "prometheus:\n  bearerTokenFile: /t\n  allowInsecureBearerToken: true\n",
			want:   []string{"--prometheus-bearer-token-file=/t", "--prometheus-allow-insecure-bearer-token"},
		},
		{
			name: "a bearer token over https", values: "prometheus:\n  bearerTokenFile: /t\n  scheme: https\n",
			want: []string{"--prometheus-bearer-token-file=/t"}, absent: "--prometheus-allow-insecure-bearer-token",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := scalerArgs(t, tc.values)
			assertArgs(t, "scaler", args, tc.want...)
			if tc.absent != "" && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, tc.absent) }) {
				t.Errorf("scaler args %v hold %s", args, tc.absent)
			}
		})
	}

	for _, set := range [][]string{
		{"prometheus.bearerTokenFile=/t"},
		{"prometheus.bearerTokenFile=/t", "prometheus.url=http://prometheus.monitoring.svc:9090", "prometheus.scheme=https"},
	} {
		var args []string
		for _, s := range set {
			args = append(args, "--set", s)
		}
		_, err := runHelm(t, templateArgs(t, args...)...)
		if err == nil || !strings.Contains(err.Error(), "allowInsecureBearerToken") {
			t.Errorf("--set %v: error %v, want a refusal that names allowInsecureBearerToken", set, err)
		}
	}
}

// webhook.clientCA takes a ConfigMap or a Secret, never both: the template
// refuses both at once with a message that says so.
func TestClientCAFromOneSource(t *testing.T) {
	tests := []struct {
		name    string
		sets    []string
		wantErr string
	}{
		{name: "a ConfigMap", sets: []string{"webhook.clientCA.configMap=ca"}},
		{name: "a Secret", sets: []string{"webhook.clientCA.secret=ca"}},
		{name: "both", sets: []string{"webhook.clientCA.configMap=ca", "webhook.clientCA.secret=ca"}, wantErr: "set configMap or secret, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, templateArgs(t, args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("helm template = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "--client-ca-file=/client-ca/ca.crt") {
				t.Error("the webhook does not get --client-ca-file")
			}
		})
	}
}

// TestTemplateWebhookURL: with webhook.url and webhook.caBundle (a webhook
// served outside the cluster, as the e2e harness runs it) both configurations
// call <url>/mutate and <url>/validate, trust that bundle and nothing else,
// and keep their names; without them they call the Service (the value sets).
func TestTemplateWebhookURL(t *testing.T) {
	const url, ca = "https://127.0.0.1:8443", "UEVNIEJVTkRMRQ=="
	for _, certManager := range []string{"true", "false"} {
		t.Run("certManager.enabled="+certManager, func(t *testing.T) {
			r := render(t, "--set", "webhook.url="+url, "--set", "webhook.caBundle="+ca, "--set", "certManager.enabled="+certManager)
			m := into[admissionregistrationv1.MutatingWebhookConfiguration](t, r.one(t, "MutatingWebhookConfiguration"))
			v := into[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.one(t, "ValidatingWebhookConfiguration"))
			for _, c := range []struct {
				kind, name, wantName, path string
				annotations                map[string]string
				client                     admissionregistrationv1.WebhookClientConfig
			}{
				{"Mutating", m.Webhooks[0].Name, "mmemhpa.autoscaling.memhpa.io", "/mutate", m.Annotations, m.Webhooks[0].ClientConfig},
				{"Validating", v.Webhooks[0].Name, "vmemhpa.autoscaling.memhpa.io", "/validate", v.Annotations, v.Webhooks[0].ClientConfig},
			} {
				if c.client.URL == nil || *c.client.URL != url+c.path {
					t.Errorf("%s: clientConfig.url = %v, want %s%s", c.kind, c.client.URL, url, c.path)
				}
				if c.client.Service != nil {
					t.Errorf("%s: clientConfig.service = %+v beside the url", c.kind, c.client.Service)
				}
				if string(c.client.CABundle) != "PEM BUNDLE" {
					t.Errorf("%s: caBundle = %q, want webhook.caBundle decoded", c.kind, c.client.CABundle)
				}
				if inject, ok := c.annotations["cert-manager.io/inject-ca-from"]; ok {
					t.Errorf("%s: inject-ca-from %q would replace webhook.caBundle", c.kind, inject)
				}
				if c.name != c.wantName {
					t.Errorf("%s: webhook name %q, want %q", c.kind, c.name, c.wantName)
				}
			}
		})
	}
}

// Shards need leader election (they are Leases): the chart refuses the
// pair instead of rendering a scaler that would not start; the default
// value set renders no --shards, the scaler's arguments of before.
func TestShardsNeedLeaderElection(t *testing.T) {
	_, err := runHelm(t, templateArgs(t, "--set", "scaler.shards=2", "--set", "scaler.leaderElection.enabled=false")...)
	if err == nil || !strings.Contains(err.Error(), "scaler.shards above 1 needs scaler.leaderElection.enabled") {
		t.Fatalf("shards without leader election: %v, want the chart to refuse", err)
	}
	r := render(t)
	for _, c := range into[appsv1.Deployment](t, r.one(t, "Deployment")).Spec.Template.Spec.Containers {
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--shards") {
				t.Errorf("the default values render %s", a)
			}
		}
	}
}
