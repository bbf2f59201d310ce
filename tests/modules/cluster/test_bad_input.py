"""Issue 2's bad inputs, each one: a clear message naming the field or object and the fix, nothing written."""

import socket

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote, canary_rollback, canary_route

from tests.modules.cluster.harness import edit, podinfo_deployment, run_module, seed, snapshot

VS = ("networking.istio.io/v1beta1", "VirtualService")
ARGS = dict(target="podinfo")


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, dict(ARGS, wait_timeout=30))
    assert not result.get("failed"), result
    return lab


def assert_refused(lab, module, args, *words):
    before = snapshot(lab)
    result = run_module(module, lab, args)
    assert result.get("failed"), result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert snapshot(lab) == before, "a refused call wrote to the cluster"
    return result


@pytest.mark.parametrize("weight, words", [
    (-1, ("weight", "between 0 and 100")),
    (101, ("weight", "between 0 and 100")),
    ("abc", ("weight", "int")),
    (12.5, ("weight", "int")),
])
def test_weight_out_of_range_or_not_an_integer(initialised, weight, words):
    assert_refused(initialised, canary_route, dict(ARGS, weight=weight), *words)


def test_mirror_with_weight_above_zero(initialised):
    assert_refused(initialised, canary_route, dict(ARGS, weight=10, mirror=True), "mirror=true needs weight 0", "set weight to 0")


def test_empty_match(initialised):
    assert_refused(initialised, canary_route, dict(ARGS, weight=0, match=[]), "match", "omit match")
    assert_refused(initialised, canary_route, dict(ARGS, weight=0, match=[{}]), "match[0] is empty")


def test_missing_target_deployment(lab):
    seed(lab)
    for module in (canary_init, canary_route, canary_promote, canary_rollback):
        assert_refused(lab, module, dict(ARGS, target="nope"), "Deployment %s/nope (target) not found" % lab.namespace, "check target and namespace")


def test_missing_namespace(lab):
    for module in (canary_init, canary_route, canary_promote, canary_rollback):
        assert_refused(lab, module, dict(ARGS, namespace="nowhere"), "namespace nowhere does not exist", "namespace option")


def test_missing_service(initialised):
    lab = initialised
    lab.store.delete("v1", "Service", lab.namespace, "podinfo-canary")
    assert_refused(lab, canary_route, dict(ARGS, weight=10), "Service %s/podinfo-canary" % lab.namespace, "not found", "canary_init")


def test_missing_virtual_service(lab):
    seed(lab, podinfo_deployment())
    assert_refused(lab, canary_route, dict(ARGS, weight=10), "VirtualService %s/podinfo not found" % lab.namespace, "canary_init")


def _subset_setup(lab, subsets=("v1", "v2"), with_rule=True):
    objects = [podinfo_deployment("backend-v2"),
               {"apiVersion": VS[0], "kind": "VirtualService", "metadata": {"name": "backend"},
                "spec": {"hosts": ["backend"], "http": [{"name": "main", "route": [
                    {"destination": {"host": "backend", "subset": "v1"}, "weight": 100}]}]}}]
    if with_rule:
        objects.append({"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
                        "metadata": {"name": "backend"},
                        "spec": {"host": "backend", "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]}})
    seed(lab, *objects)


SUBSET = dict(target="backend-v2", service_name="backend", mode="subset", primary_subset="v1",
              canary_subset="v2", route_name="main")


def test_missing_destination_rule(lab):
    _subset_setup(lab, with_rule=False)
    assert_refused(lab, canary_route, dict(SUBSET, weight=10), "no DestinationRule", "host backend", "create one with subsets v1 and v2")


def test_missing_subset(lab):
    _subset_setup(lab, subsets=("v1",))
    assert_refused(lab, canary_route, dict(SUBSET, weight=10), "DestinationRule backend", "no subset 'v2'", "canary_subset")


def test_unknown_route_name(lab):
    _subset_setup(lab)
    assert_refused(lab, canary_route, dict(SUBSET, weight=10, route_name="other"), "no http route named 'other'", "main", "route_name")


def test_foreign_virtual_service_without_adopt(lab):
    seed(lab, podinfo_deployment(),
         {"apiVersion": VS[0], "kind": "VirtualService", "metadata": {"name": "podinfo"},
          "spec": {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}]}]}})
    assert_refused(lab, canary_init, dict(ARGS), "VirtualService %s/podinfo" % lab.namespace, "not created by progressive.delivery", "adopt=true")


def test_target_without_a_supported_app_label(lab):
    seed(lab, podinfo_deployment(label="component"))
    assert_refused(lab, canary_init, dict(ARGS), "Deployment %s/podinfo" % lab.namespace, "app, name, app.kubernetes.io/name", "add one of them")


def test_missing_referenced_config_map(lab):
    deployment = podinfo_deployment()
    deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "missing-env"}}]
    seed(lab, deployment)
    assert_refused(lab, canary_init, dict(ARGS), "ConfigMap %s/missing-env" % lab.namespace, "does not exist", "config_tracking=false")


def test_missing_hpa(lab):
    seed(lab, podinfo_deployment())
    assert_refused(lab, canary_init, dict(ARGS, hpa="podinfo"), "HorizontalPodAutoscaler %s/podinfo (hpa) not found" % lab.namespace)


def test_promote_before_init(lab):
    seed(lab, podinfo_deployment())
    assert_refused(lab, canary_promote, dict(ARGS), "Deployment %s/podinfo-primary (the primary) not found" % lab.namespace, "canary_init first")


def test_wrong_credentials(initialised):
    lab = initialised
    before = snapshot(lab)
    result = run_module(canary_route, dict(ARGS, namespace=lab.namespace, weight=10, host=lab.url, api_key="wrong-token",
                                         ca_cert=lab.info["ca"]))
    assert result["failed"]
    assert "401 Unauthorized" in result["msg"] and "check api_key, the kubeconfig" in result["msg"], result["msg"]
    result = run_module(canary_rollback, dict(ARGS, namespace=lab.namespace, kubeconfig=_kubeconfig_with_token(lab, "wrong-token")))
    assert result["failed"]
    assert "401 Unauthorized" in result["msg"] and "check api_key, the kubeconfig" in result["msg"], result["msg"]
    assert snapshot(lab) == before


def _kubeconfig_with_token(lab, token):
    import yaml

    with open(lab.kubeconfig) as handle:
        config = yaml.safe_load(handle)
    config["users"][0]["user"]["token"] = token
    return config


def test_unreachable_api(lab, tmp_path):
    import yaml

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _kubeconfig_with_token(lab, "not-the-token")
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:%d" % port
    path = tmp_path / "unreachable-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    # a kubeconfig given as a file, not inline: inline kubeconfig values are no_log and masked in messages
    result = run_module(canary_rollback, dict(ARGS, namespace=lab.namespace, kubeconfig=str(path)))
    assert result["failed"]
    assert "cannot reach the Kubernetes API at http://127.0.0.1:%d" % port in result["msg"], result["msg"]
    assert "check host/kubeconfig" in result["msg"]


def test_promote_with_an_unknown_route_fails_before_touching_the_primary(initialised):
    lab = initialised

    def new_revision(target):
        target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.2"
    edit(lab, "apps/v1", "Deployment", "podinfo", new_revision)
    assert_refused(lab, canary_promote, dict(ARGS, route_name="nope"), "no http route named 'nope'", "route_name")
