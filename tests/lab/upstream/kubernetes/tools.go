//go:build tools

// Package tools only records the upstream main packages this wrapper module builds, so that
// go mod tidy keeps their dependencies. Build them with scripts/build_lab_binaries.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
