//go:build tools

// Package tools only records the upstream main packages this wrapper module builds, so that
// go mod tidy keeps their dependencies. Build them with scripts/build_lab_binaries.sh.
package tools

import (
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
