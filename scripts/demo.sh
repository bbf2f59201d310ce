#!/usr/bin/env bash
# The README's main command (`make demo`, after scripts/bootstrap.sh): start the local lab, deploy
# Flagger's podinfo 6.0.0, roll out 6.0.1 with live progress, then a faulty 6.0.2 (--random-error)
# that is rolled back, print the final status and stop the lab -- also when something fails.
#
# It plays molecule/lab's playbooks (the same ones CI runs) with short intervals (5 s, weights 25/50,
# threshold 2). Full Ansible output goes to $DEMO_DIR/demo.log; the terminal shows one line per step.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
source scripts/env.sh

DEMO_DIR="${DEMO_DIR:-$(mktemp -d -t progressive-delivery-demo.XXXXXX)}"
mkdir -p "$DEMO_DIR"
log="$DEMO_DIR/demo.log"
started=$(date +%s)

# molecule/lab's playbooks find the lab and their variables through Molecule's variables.
export MOLECULE_EPHEMERAL_DIRECTORY="$DEMO_DIR"
export MOLECULE_SCENARIO_DIRECTORY="$top/molecule/lab"
export MOLECULE_PROJECT_DIRECTORY="$top"
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
export ANSIBLE_NOCOLOR=1
export ANSIBLE_LOCAL_TEMP="$DEMO_DIR/ansible-tmp"

say() { printf '[%4ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }

stop_lab() {
  local rc=$?
  if [ -f "$DEMO_DIR/lab/lab.json" ]; then
    say "stopping the lab"
    python -m tests.lab down --dir "$DEMO_DIR/lab" >>"$log" 2>&1 || say "lab down failed, see $log"
  fi
  if [ "$rc" -ne 0 ]; then
    say "the demo FAILED (exit $rc); full output: $log"
  fi
  exit "$rc"
}
trap stop_lab EXIT
trap 'exit 130' INT TERM

# Runs a playbook of molecule/lab and shows its progress lines ("msg") as they come; with
# EXPECT_FAILURE=1 the task failures the playbook expects (the rollback) are not shown.
play() {
  local playbook="$1"; shift
  local show_fatal="${EXPECT_FAILURE:-0}"
  echo "=== ansible-playbook $playbook" >>"$log"
  set +e
  ansible-playbook -i lab-controller, -c local -e ansible_python_interpreter="$top/.venv/bin/python" \
    "$@" "$playbook" 2>&1 | tee -a "$log" | while IFS= read -r line; do
      case "$line" in
        fatal:*|*'ERROR!'*) [ "$show_fatal" = 1 ] || say "  ${line:0:300}" ;;
        *'"msg": "All assertions passed"'*) ;;
        *'"msg": "'*) say "  $(printf '%s' "$line" | sed -E 's/^ *"msg": "(.*)",?$/\1/')" ;;
      esac
    done
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

say "building the lab's upstream programs from their Go modules unless cached in ~/.cache/progressive-delivery: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, istiod (pilot-discovery), podinfo, Istio and Gateway API CRDs"
scripts/build_lab_binaries.sh >>"$log" 2>&1
say "starting the lab in $DEMO_DIR/lab (real Kubernetes control plane, istiod, two Envoys, Prometheus, podinfo pods)"
python -m tests.lab up --dir "$DEMO_DIR/lab" >>"$log" 2>&1
say "lab ready"

say "deploying Flagger's podinfo 6.0.0 (namespace test) and initializing the canary"
play molecule/lab/prepare.yml

say "releasing podinfo 6.0.1 and rolling it out (interval 5s, weights 25 then 50, threshold 2)"
play molecule/lab/converge.yml
play molecule/lab/verify.yml >/dev/null && say "checked: primary runs 6.0.1, traffic 100/0, canary at 0 replicas, status Succeeded"

say "releasing a faulty podinfo 6.0.2 (--random-error) and rolling it out"
EXPECT_FAILURE=1 play molecule/lab/side_effect.yml
play molecule/lab/verify_rolled_back.yml >/dev/null && say "checked: rolled back, primary still 6.0.1, traffic 100/0, canary at 0, status Failed with the reason"

say "final status"
ansible-playbook -i localhost, -c local -e ansible_python_interpreter="$top/.venv/bin/python" \
  -e rollout_target=podinfo -e rollout_namespace=test -e rollout_kubeconfig="$DEMO_DIR/lab/kubeconfig" \
  progressive.delivery.status 2>&1 | tee -a "$log" | sed -n '/"msg": \[/,/\]/p' | sed -E '1d;$d; s/^ *"(.*)",?$/    \1/'

say "demo done in $(( $(date +%s) - started ))s; full output: $log"
