"""Fixtures shared by the module tests of this folder (the cluster modules have their own in cluster/)."""

import types

import pytest

from tests.lab.apiserver import start_apiserver


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The lab's API server alone: canary_state and canary_lock only read and write objects (no controllers needed)."""
    api = start_apiserver()
    try:
        kubeconfig = api.write_kubeconfig(tmp_path_factory.mktemp("api") / "kubeconfig")
        yield types.SimpleNamespace(api=api, store=api.store, kubeconfig=kubeconfig)
    finally:
        api.stop()

