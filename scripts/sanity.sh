#!/usr/bin/env bash
# ansible-test sanity on the files the collection ships, offline.
# ansible-test wants the collection under ansible_collections/<namespace>/<name>.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
source "$top/scripts/env.sh"
# The pip version ansible-test pins for its sanity environments names the cached script.
pip_version="$(python -c 'from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3.11", path="/usr/bin/python3"))["pip"])')"
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$top/scripts/offline_get_pip.py" "$cache/get_pip_${pip_version//./_}.py"

# The sanity tree is the built tarball unpacked: exactly the files the collection ships
# (galaxy.yml's build_ignore keeps the lab and the lab-driven tests out).
work="$top/.build/sanity/ansible_collections/progressive/delivery"
rm -rf "$work" "$top/.build/sanity-dist"
mkdir -p "$work"
ansible-galaxy collection build --force --output-path "$top/.build/sanity-dist" "$top" >/dev/null
tar -xzf "$top"/.build/sanity-dist/progressive-delivery-*.tar.gz -C "$work"
# Dependencies are found beside the collection, as ansible-test expects.
kcore="$(python -c 'import ansible_collections.kubernetes.core as m, os; print(os.path.dirname(m.__file__) if m.__file__ else list(m.__path__)[0])')"
mkdir -p "$top/.build/sanity/ansible_collections/kubernetes"
ln -sfn "$kcore" "$top/.build/sanity/ansible_collections/kubernetes/core"
cd "$work"
# ansible-test keeps its virtual environments in tests/output: hide them from its file listing.
printf 'tests/output/\n' > .gitignore
git init -q . && git add -A >/dev/null
ansible-test sanity --venv --python 3.11 "$@"
