//go:build tools

// Package tools only records the upstream packages this wrapper module uses, so that
// go mod tidy keeps their dependencies. Build them with scripts/build_lab_binaries.sh.
package tools

import (
	_ "github.com/fluxcd/flagger/cmd/loadtester"
)
