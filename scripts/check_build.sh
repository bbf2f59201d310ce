#!/usr/bin/env bash
# Builds the collection tarball, installs it into an empty collections path (kubernetes.core
# must be its only collection dependency) and renders every plugin's documentation from there.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
source "$top/scripts/env.sh"
out="$top/.build/dist"
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" "$top" >/dev/null
tarball="$(ls "$out"/progressive-delivery-*.tar.gz)"
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
if tar -tzf "$tarball" | grep -q '^tests/lab/'; then
  echo "the tarball must not ship the local lab" >&2
  exit 1
fi
install_dir="$out/installed"
# --no-deps: kubernetes.core comes from the ansible package here (Galaxy is unreachable);
# the dependency itself is checked in MANIFEST.json below.
ANSIBLE_COLLECTIONS_PATH="$install_dir" ansible-galaxy collection install --force --no-deps -p "$install_dir" "$tarball" >/dev/null
python - "$install_dir/ansible_collections/progressive/delivery/MANIFEST.json" <<'PY'
import json, sys
deps = json.load(open(sys.argv[1]))["collection_info"]["dependencies"]
assert list(deps) == ["kubernetes.core"], "collection dependencies must be kubernetes.core only, got %r" % deps
print("dependencies:", deps)
PY
export ANSIBLE_COLLECTIONS_PATH="$install_dir"
for kind in module lookup filter; do
  plugins="$(ansible-doc -t "$kind" -l progressive.delivery --json | python -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))')"
  for plugin in $plugins; do
    ansible-doc -t "$kind" "$plugin" >/dev/null
    echo "ansible-doc -t $kind $plugin: ok"
  done
done
ansible-doc -t role progressive.delivery.rollout >/dev/null
echo "ansible-doc -t role progressive.delivery.rollout: ok"
