//go:build tools

// Package tools pins the Kubernetes control-plane binaries and etcd that the
// local control plane harness builds. It is never imported; `go build` of the
// listed main packages inside this module gives reproducible, pinned binaries.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
