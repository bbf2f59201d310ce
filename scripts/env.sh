# Sourced by the Makefile targets: the project's virtual environment and collection path.
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$top/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$top/.build/collections"
export ANSIBLE_PYTHON_INTERPRETER="$top/.venv/bin/python"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
export PYTHONDONTWRITEBYTECODE=1
