"""Fixtures of the module tests: the session's real lab (``shared_lab``: kube-apiserver, etcd, the
controller-manager, the scheduler, the node agent running podinfo, istiod, Envoy) and a namespace of
its own for each test (``namespace``), so no test sees another's objects."""

import pytest

from tests.modules.cluster.harness import ClusterView
from tests.modules.receiver import Receiver


@pytest.fixture
def cluster(shared_lab, namespace):
    """The real lab seen from one test: ``.store``, ``.kubeconfig``, ``.namespace``, ``.wait_for``."""
    return ClusterView(shared_lab, namespace)


@pytest.fixture
def lab(cluster):
    """The cluster modules' name for the same view."""
    return cluster


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1 for the modules that post (webhooks, alerts)."""
    server = Receiver()
    yield server
    server.close()
