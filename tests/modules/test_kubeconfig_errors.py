"""A kubeconfig that cannot be used: every cluster module says which file (and what set its path) or
which context is missing, through the real module code (main() with injected arguments)."""

import os

import pytest
import yaml

from ansible_collections.progressive.delivery.plugins.modules import (
    canary_init,
    canary_lock,
    canary_promote,
    canary_rollback,
    canary_route,
    canary_state,
)

from tests.modules.cluster.harness import run_module

ARGS = {
    canary_init: dict(namespace="test", target="podinfo"),
    canary_route: dict(namespace="test", target="podinfo", weight=10),
    canary_promote: dict(namespace="test", target="podinfo"),
    canary_rollback: dict(namespace="test", target="podinfo"),
    canary_state: dict(namespace="test", target="podinfo"),
    canary_lock: dict(namespace="test", target="podinfo", holder="me"),
}
MODULES = pytest.mark.parametrize("module", list(ARGS), ids=lambda module: module.__name__.rsplit(".", 1)[-1])


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """No kubeconfig anywhere: HOME is empty, no K8S_AUTH_* or KUBECONFIG, not inside a cluster."""
    from kubernetes.config import kube_config

    for name in list(os.environ):
        if name.startswith("K8S_AUTH_") or name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # what the kubernetes library computed from KUBECONFIG when it was imported
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", "~/.kube/config")
    return home


def kubeconfig(path, current="lab", contexts=("lab",)):
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "lab", "cluster": {"server": "http://127.0.0.1:9"}}],
              "users": [{"name": "lab", "user": {"token": "t"}}],
              "contexts": [{"name": name, "context": {"cluster": "lab", "user": "lab"}} for name in contexts]}
    if current:
        config["current-context"] = current
    path.write_text(yaml.safe_dump(config))
    return str(path)


def failed(module, **args):
    result = run_module(module, dict(ARGS[module], **args))
    assert result.get("failed"), result
    assert "No configuration found" not in result["msg"], result["msg"]
    return result["msg"]


@MODULES
def test_missing_file_named_by_the_kubeconfig_option(environment, tmp_path, module):
    message = failed(module, kubeconfig=str(tmp_path / "nowhere" / "kubeconfig"))
    assert message.startswith("the kubeconfig option names a file that does not exist"), message
    assert "leave the option out to use K8S_AUTH_KUBECONFIG or ~/.kube/config" in message


@MODULES
def test_missing_file_named_by_k8s_auth_kubeconfig(environment, tmp_path, monkeypatch, module):
    path = str(tmp_path / "gone" / "kubeconfig")
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", path)
    message = failed(module)
    assert message.startswith("no kubeconfig file at %s, the path the K8S_AUTH_KUBECONFIG environment variable sets" % path), message


@MODULES
def test_missing_default_kubeconfig(environment, module):
    message = failed(module)
    default = os.path.join(str(environment), ".kube", "config")
    assert message.startswith("no kubeconfig file at %s, the default used since neither the kubeconfig option nor "
                              "K8S_AUTH_KUBECONFIG is set" % default), message
    assert "does not run inside a cluster" in message


def test_missing_file_named_by_kubeconfig_the_library_default(environment, tmp_path, monkeypatch):
    from kubernetes.config import kube_config

    path = str(tmp_path / "from-kubeconfig")
    monkeypatch.setenv("KUBECONFIG", path)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path)
    message = failed(canary_rollback)
    assert message.startswith("no kubeconfig file at %s, the path the KUBECONFIG environment variable sets" % path), message


@MODULES
def test_context_option_not_in_the_kubeconfig(environment, tmp_path, monkeypatch, module):
    path = kubeconfig(tmp_path / "kubeconfig", contexts=("lab", "prod"))
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", path)
    message = failed(module, context="staging")
    assert message.startswith("context 'staging' (the context option) is not in the kubeconfig %s (set by the K8S_AUTH_KUBECONFIG "
                              "environment variable); its contexts: lab, prod" % path), message


def test_current_context_not_in_the_file_named_by_the_option(environment, tmp_path):
    path = kubeconfig(tmp_path / "kubeconfig", current="ghost")
    message = failed(canary_init, kubeconfig=path)
    assert message.startswith("context 'ghost' (its current-context) is not in the kubeconfig file named by the kubeconfig option; "
                              "its contexts: lab"), message


def test_context_from_k8s_auth_context_missing_in_the_default_kubeconfig(environment, monkeypatch):
    (environment / ".kube").mkdir()
    path = kubeconfig(environment / ".kube" / "config")
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "other")
    message = failed(canary_state)
    assert message.startswith("context 'other' (the K8S_AUTH_CONTEXT environment variable) is not in the kubeconfig %s (the default)"
                              % path), message


def test_a_valid_kubeconfig_is_used_as_before(environment, tmp_path):
    """No cluster listens on the kubeconfig's server: the failure is the connection, not the configuration."""
    path = kubeconfig(tmp_path / "kubeconfig")
    result = run_module(canary_rollback, dict(ARGS[canary_rollback], kubeconfig=path))
    assert result["failed"] and "cannot reach the Kubernetes API at http://127.0.0.1:9" in result["msg"], result["msg"]
