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
