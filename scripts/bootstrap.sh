#!/usr/bin/env bash
# Installs what the tests, the lab and the demo need on a fresh Debian machine:
# Debian packages (prometheus, hey), a virtual environment in .venv with the pinned Python
# packages, and the collection linked where Ansible looks for it. Safe to run again.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"

apt_packages=()
command -v prometheus >/dev/null 2>&1 || apt_packages+=(prometheus)
command -v promtool >/dev/null 2>&1 || apt_packages+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || apt_packages+=(prometheus-pushgateway)
command -v hey >/dev/null 2>&1 || apt_packages+=(hey)
command -v rsync >/dev/null 2>&1 || apt_packages+=(rsync)
# The lab's pods: a network namespace (ip) and a UTS namespace (unshare) each.
command -v ip >/dev/null 2>&1 || apt_packages+=(iproute2)
command -v unshare >/dev/null 2>&1 || apt_packages+=(util-linux)
# The report test renders the page in a real browser (tests/modules/test_canary_report.py).
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "bootstrap: installing Debian packages: ${apt_packages[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  # The Debian package starts a system Prometheus on :9090; the lab runs its own.
  if command -v systemctl >/dev/null 2>&1; then "${sudo_cmd[@]}" systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true; fi
fi

stamp=.venv/.requirements-test.txt
if [ ! -x .venv/bin/python ] || ! cmp -s requirements-test.txt "$stamp"; then
  echo "bootstrap: installing Python packages into .venv"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -r requirements-test.txt 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  .venv/bin/python -c "import ansible, kubernetes, kubernetes_validate, cloudcoil.models.istio, molecule, pytest"
  cp requirements-test.txt "$stamp"
fi

# Ansible finds collections under <path>/ansible_collections/<namespace>/<name>.
mkdir -p .build/collections/ansible_collections/progressive
ln -sfn ../../../.. .build/collections/ansible_collections/progressive/delivery
