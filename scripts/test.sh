#!/usr/bin/env bash
# Everything CI runs, in order of speed; stops at the first failing stage.
# `make test` calls this after scripts/bootstrap.sh.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
source scripts/env.sh

stage() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# The upstream programs the lab is moving to (kube-apiserver, etcd, istiod, podinfo, ...), built from their Go
# modules into a cache outside the work tree: seconds when nothing changed, about 20 minutes cold (docs/lab.md).
stage "upstream programs for the lab (scripts/build_lab_binaries.sh)"
scripts/build_lab_binaries.sh

# Two workers (pytest-xdist, a whole file per worker, each worker with a lab of its own). On two cores the gain is
# modest - each end-to-end test runs 1.6-2x slower beside the other worker (docs/testing.md) - but it keeps the run
# inside CI's budget. The few tests that assert a bound of a few seconds (marker `timing`) run afterwards on their
# own, so the other worker's load cannot eat it.
workers="${PYTEST_WORKERS:-2}"
# Every test's duration goes to .build/pytest*.xml (JUnit): scripts/test_times.py sums them by file.
stage "pytest: unit, module, analysis, lab and end-to-end tests ($workers workers)"
mkdir -p .build
pytest -q -p no:cacheprovider --durations=40 --junitxml=.build/pytest.xml -n "$workers" --dist loadfile -m "not timing" | tee .build/pytest.log

stage "pytest: the tests with wall-clock bounds, alone"
pytest -q -p no:cacheprovider --durations=10 --junitxml=.build/pytest-timing.xml -m timing | tee .build/pytest-timing.log

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

stage "molecule: kind-gatewayapi scenario (static: syntax)"
molecule syntax -s kind-gatewayapi

stage "all stages passed"
# pytest's counts again as the run's last line, since the stages after it print their own output.
passed=0
for log in .build/pytest.log .build/pytest-timing.log; do
    count="$(grep -oE '[0-9]+ passed' "$log" | tail -n 1 | cut -d' ' -f1)"
    passed=$((passed + ${count:-0}))
done
echo "tests: $passed passed, 0 failed"
