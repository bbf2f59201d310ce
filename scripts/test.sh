#!/usr/bin/env bash
# Everything CI runs, in order of speed; stops at the first failing stage.
# `make test` calls this after scripts/bootstrap.sh.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
source scripts/env.sh

stage() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "pytest: unit, module, analysis, lab and end-to-end tests"
pytest -q -p no:cacheprovider

stage "ansible-lint (production profile)"
ansible-lint

stage "antsibull-changelog lint"
antsibull-changelog lint

stage "collection build, install and ansible-doc"
scripts/check_build.sh

stage "ansible-test sanity"
scripts/sanity.sh

stage "molecule: lab scenario (real rollout on the local lab)"
molecule test -s lab

stage "molecule: kind scenario (static: syntax)"
molecule syntax -s kind

stage "all stages passed"
