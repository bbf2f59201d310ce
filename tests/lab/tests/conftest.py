"""Shared lab fixtures: an emulated cluster per test (API server + controllers, simulated pods)."""

import pytest

from tests.lab.apiserver.testing import running_cluster


@pytest.fixture
def cluster(tmp_path):
    """API server + controllers with simulated pods; `.kubeconfig`, `.store`, `.url`, `.token`."""
    with running_cluster(tmp_path, pods="simulated") as running:
        yield running


@pytest.fixture
def process_cluster(tmp_path):
    """API server + controllers where every pod is a real sample-app process."""
    with running_cluster(tmp_path, pods="processes") as running:
        yield running


@pytest.fixture
def dynamic_client(cluster):
    """kubernetes' DynamicClient configured from the cluster's kubeconfig."""
    from kubernetes import config, dynamic

    return dynamic.DynamicClient(config.new_client_from_config(cluster.kubeconfig))
