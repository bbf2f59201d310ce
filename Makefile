# The two commands the README promises: `make demo` (a real rollout on the local lab) and
# `make test` (everything CI runs). Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup test demo unit sanity lint build lab-up lab-status lab-down lab-binaries

help:
	@echo "make demo   - start the local lab, roll out podinfo 6.0.1, then a faulty 6.0.2 that is rolled back"
	@echo "make test   - every test CI runs (unit, lab, modules, end to end, sanity, lint, molecule)"
	@echo "make lab-up / lab-status / lab-down - the local lab in LAB_DIR (default .build/lab), docs/lab.md"

setup:
	@scripts/bootstrap.sh

test: setup
	@scripts/test.sh

demo: setup
	@scripts/demo.sh

build: setup
	@source scripts/env.sh && ansible-galaxy collection build --force --output-path .build/dist .

# Upstream Kubernetes, etcd, istiod and podinfo built from their Go modules into ~/.cache
# (docs/lab.md, "Building the upstream programs"); seconds when nothing changed.
lab-binaries:
	@scripts/build_lab_binaries.sh --print-manifest

# The local lab (docs/lab.md): upstream control plane, istiod, two Envoys, Prometheus, podinfo pods.
LAB_DIR ?= .build/lab
lab-up: setup lab-binaries
	@source scripts/env.sh && python -m tests.lab up --dir $(LAB_DIR)

lab-status:
	@source scripts/env.sh && python -m tests.lab status --dir $(LAB_DIR)

lab-down:
	@source scripts/env.sh && python -m tests.lab down --dir $(LAB_DIR)
