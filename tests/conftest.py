"""Makes ``ansible_collections.progressive.delivery`` (and kubernetes.core) importable in pytest.

The collection is linked under ``.build/collections`` by ``scripts/bootstrap.sh``; Ansible's own
collection finder then resolves ``ansible_collections.*`` imports the way ansible-test does.
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_ROOT = os.path.join(REPO_ROOT, ".build", "collections")

if REPO_ROOT not in sys.path:
    # `import tests.lab` for the lab fixtures.
    sys.path.insert(0, REPO_ROOT)


def _install_collection_finder():
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    link = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "progressive", "delivery")
    if not os.path.isdir(link):
        raise RuntimeError("%s is missing: run scripts/bootstrap.sh (or `make setup`) first" % link)
    _AnsibleCollectionFinder(paths=[COLLECTIONS_ROOT])._install()


_install_collection_finder()


# The lab every cluster suite shares (one per pytest session; a namespace per test) -------------------
import pytest  # noqa: E402 - after the collection finder, which the imports below need


@pytest.fixture(scope="session")
def shared_lab(tmp_path_factory):
    """``python -m tests.lab up`` once: the real control plane, istiod, the Envoys, Prometheus. ``.store``,
    ``.kubeconfig``, ``.info``; stopped (``down``) when the session ends."""
    from tests.mesh import running_lab

    with running_lab(tmp_path_factory.mktemp("shared-lab")) as lab:
        yield lab


@pytest.fixture
def namespace(shared_lab, request):
    """A namespace of the shared lab for this test alone (named after it), deleted when it ends."""
    from tests.cluster import Namespaces

    namespaces = Namespaces(shared_lab.store)
    name = namespaces.create(request.node.name.replace("test_", "", 1))
    try:
        yield name
    finally:
        namespaces.delete(name)
