// Package harness runs a real, local Kubernetes control plane for memhpa's
// end-to-end tests and for `make up` / `make demo`: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler (Kubernetes v1.37.2, built by
// hack/tools.sh), kwok's controller with fake nodes whose pods "run" without
// containers, and Prometheus scraping the memory figures kwok serves. Around it
// the harness starts memhpa's own processes, the admission webhook and the
// scaler, as plain processes on 127.0.0.1.
//
// # Quick start (tests)
//
//	env, err := harness.Start(ctx, harness.Options{Dir: t.TempDir(), Webhook: true})
//	if err != nil { t.Fatal(err) }
//	defer env.Stop(context.Background())
//	out, err := env.Kubectl(ctx, "get", "mhpa", "-A")
//	out, err = env.ApplyYAML(ctx, manifest)          // kubectl apply -f -; out is kubectl's own output
//	vec, err := env.PromQuery(ctx, `sum by (pod) (container_memory_working_set_bytes{container!=""})`)
//	err = env.StartScaler(ctx, "--sync-period=5s")   // the scaler, with extra flags
//	err = env.StopComponent(ctx, harness.Prometheus)  // faults: also APIServer, Webhook, Scaler, ...
//	err = env.StartComponent(ctx, harness.Prometheus) // same flags, same ports, same log file
//
// A test package shares one Env from TestMain (see test/e2e/main_test.go):
// starting one takes a few seconds of wall time plus the first Prometheus
// discovery, and the machine has two cores.
//
// # What Start does
//
//  1. Finds the pinned binaries in $MEMHPA_BIN (default
//     ${XDG_CACHE_HOME:-$HOME/.cache}/memhpa/bin) and Prometheus
//     ($MEMHPA_PROMETHEUS, else /usr/bin/prometheus or $PATH). A missing one is
//     an error that names `make tools`: nothing is ever skipped.
//  2. Picks free ports on 127.0.0.1 and writes a KwokctlConfiguration that binds
//     every component to 127.0.0.1 (kwokctl's default is 0.0.0.0), turns the
//     apiserver's admission plugins on (webhooks need them), enables kwok's
//     Metric and ClusterResourceUsage CRDs and points Prometheus at our own
//     configuration (scrape and discovery every Options.ScrapeInterval, 5 s by
//     default, instead of kwokctl's fixed 15 s and one minute).
//  3. Runs `kwokctl create cluster --runtime binary` with KWOK_WORKDIR inside
//     Options.Dir, so nothing touches ~/.kwok or ~/.kube/config.
//  4. Applies kwok's metrics manifests (from the kwok module at the pinned
//     version: kustomize/metrics/resource and kustomize/metrics/usage), adds
//     Options.Nodes fake nodes with loopback IPs, installs the MemHpa CRD from
//     charts/memhpa/files/crds and waits until nodes are Ready and Prometheus
//     has discovered the node metrics endpoints.
//  5. With Options.Webhook, builds (hack/build.sh) or uses the webhook binary,
//     issues a development certificate for 127.0.0.1 (webhook/pkg/devcerts),
//     starts it on a free port and registers the chart's Validating and
//     Mutating webhook configurations (`helm template` with webhook.url
//     https://127.0.0.1:<port> and webhook.caBundle the development CA).
//
// Every log is in Env.LogDir: kube-apiserver.log, etcd.log, prometheus.log,
// kwok-controller.log, ..., kwokctl.log, webhook.log, scaler.log.
//
// # Memory usage of fake pods
//
// kwok serves, per node, a kubelet-style /metrics/resource whose
// container_memory_working_set_bytes{namespace,pod,container} is the pod's
// annotation kwok.x-k8s.io/usage-memory (a quantity such as 300Mi; 1Mi when the
// annotation is absent). Env.SetPodMemory changes it; Prometheus sees the new
// value within one scrape interval.
//
// # Facts verified on this machine (kwok v0.8.0, Kubernetes v1.37.2)
//
//   - kwokctl's binary runtime binds every component to Options.bindAddress
//     (default 0.0.0.0; we set 127.0.0.1), honours --kubeconfig "" on create
//     (leave ~/.kube/config alone) but refuses it on delete ("empty path"), and
//     writes its Prometheus configuration with a fixed 15 s scrape interval and
//     the default one-minute http_sd refresh: hence our own configuration.
//   - Nodes from `kwokctl scale node --param '.nodeIPs=["127.0.0.1"]'` get
//     127.0.0.1, 127.0.0.2, ... (the index is added): all loopback.
//   - The apiserver advertises a host address in the default `kubernetes`
//     Endpoints (it refuses a loopback --advertise-address); nothing of the
//     harness connects to it: every client uses the kubeconfig (127.0.0.1),
//     kwok runs no container. `ss -tnp` during a run shows only loopback peers.
//   - kube-controller-manager and kube-scheduler exit when they lose their
//     leader lease (an apiserver outage longer than 10 s) and nothing restarts
//     them: the harness runs them with --leader-elect=false, and
//     StartComponent(APIServer) restarts any control plane component that
//     exited meanwhile.
//   - kwok reports the annotation for each container of a pod, so a pod with
//     two containers reports twice the annotation as its sum.
//   - The apiserver checks the CRD schema and CEL rules before calling
//     validating webhooks: a manifest with both kinds of errors shows only the
//     schema's.
//   - From `kwokctl create cluster` to a ready environment (nodes Ready,
//     Prometheus scraping them, webhook and scaler serving): 24 to 40 s on two
//     busy cores.
//
// # Teardown
//
// Env.Stop stops the scaler and the webhook (their whole process groups), runs
// `kwokctl delete cluster`, then looks for any process whose command line still
// mentions Options.Dir, kills it and reports it as an error: after Stop nothing
// of the harness is alive. Start installs nothing that outlives the caller
// unless the caller leaves without Stop (make up); then Attach(dir) finds the
// environment again from Dir/state.json and Stop tears it down (make down).
// Builds of memhpa's binaries still running are killed too.
//
// Binaries of memhpa itself: $MEMHPA_WEBHOOK_BIN and $MEMHPA_SCALER_BIN when
// set (the Makefile's up/demo targets pass bin/webhook and bin/scaler);
// otherwise the harness builds them once per process with hack/build.sh.
package harness
