"""canary_init against the lab's real API server."""

import base64
import copy

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import strip_object
from ansible_collections.progressive.delivery.plugins.modules import canary_init

from tests.modules.cluster.harness import edit, podinfo_deployment, run_module, seed, snapshot, validate_object

VS = ("networking.istio.io/v1beta1", "VirtualService")
DR = ("networking.istio.io/v1beta1", "DestinationRule")

EXPECTED_OBJECTS = [
    ("Deployment", "podinfo-primary"),
    ("Service", "podinfo"),
    ("Service", "podinfo-primary"),
    ("Service", "podinfo-canary"),
    ("DestinationRule", "podinfo-primary"),
    ("DestinationRule", "podinfo-canary"),
    ("VirtualService", "podinfo"),
    ("Deployment", "podinfo"),
]


def init_args(**kwargs):
    args = dict(target="podinfo", wait_timeout=30)
    args.update(kwargs)
    return args


def _rolled_out(lab, name):
    deployment = lab.store.get("apps/v1", "Deployment", lab.namespace, name) or {}
    status = deployment.get("status") or {}
    return (status.get("observedGeneration") == deployment["metadata"]["generation"]
            and "deployment.kubernetes.io/revision" in (deployment["metadata"].get("annotations") or {})
            and status.get("readyReplicas") == deployment["spec"]["replicas"])


def test_check_mode_predicts_the_real_run_then_second_run_is_unchanged(lab):
    seed(lab, podinfo_deployment())
    # The controller-manager's own writes to the target (its revision annotation) come first: the check run
    # and the real run must read the same object to be compared.
    lab.wait_for(lambda: _rolled_out(lab, "podinfo"), 60, "podinfo rolled out")
    before = snapshot(lab)

    predicted = run_module(canary_init, lab, init_args(), check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab) == before, "check mode wrote to the cluster"

    real = run_module(canary_init, lab, init_args())
    assert not real.get("failed"), real
    for key in ("changed", "objects", "primary", "virtual_service", "pod_template_hash", "diff"):
        assert predicted[key] == real[key], key
    assert real["changed"] is True
    assert [(o["kind"], o["name"]) for o in real["objects"]] == EXPECTED_OBJECTS
    assert [o["action"] for o in real["objects"]] == ["created"] * 7 + ["updated"]
    assert real["primary"] == "podinfo-primary" and real["virtual_service"] == "podinfo"
    assert real["diff"]["after"]["Deployment/podinfo"]["spec"]["replicas"] == 0
    assert real["diff"]["before"]["Deployment/podinfo"]["spec"]["replicas"] == 2

    again = run_module(canary_init, lab, init_args())
    assert again["changed"] is False, again["objects"]
    assert {o["action"] for o in again["objects"]} == {"unchanged"}
    assert again["pod_template_hash"] == real["pod_template_hash"]
    assert again.get("diff") == {"before": {}, "after": {}}


def test_objects_follow_flaggers_model_and_validate_against_the_schemas(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, init_args(hosts=["app.example.com"], gateways=["public-gateway"],
                                                    retries={"attempts": 3, "perTryTimeout": "1s"}, timeout="5s",
                                                    traffic_policy={"tls": {"mode": "ISTIO_MUTUAL"}}))
    assert not result.get("failed"), result
    store = lab.store
    primary = store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary")
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo-primary"
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    assert primary["status"]["readyReplicas"] == 2, "init must wait for the primary"
    target = store.get("apps/v1", "Deployment", lab.namespace, "podinfo")
    assert target["spec"]["replicas"] == 0

    apex = store.get("v1", "Service", lab.namespace, "podinfo")
    canary = store.get("v1", "Service", lab.namespace, "podinfo-canary")
    assert apex["spec"]["selector"] == {"app": "podinfo-primary"}
    assert canary["spec"]["selector"] == {"app": "podinfo"}
    assert apex["spec"]["ports"][0]["port"] == 9898 and apex["spec"]["ports"][0]["name"] == "http"

    rule = store.get(DR[0], DR[1], lab.namespace, "podinfo-canary")
    assert rule["spec"] == {"host": "podinfo-canary", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}
    vs = store.get(VS[0], VS[1], lab.namespace, "podinfo")
    assert vs["spec"]["hosts"] == ["app.example.com", "podinfo"]
    assert vs["spec"]["gateways"] == ["public-gateway"]
    route = vs["spec"]["http"][0]
    assert route["retries"] == {"attempts": 3, "perTryTimeout": "1s"} and route["timeout"] == "5s"
    assert route["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100},
                              {"destination": {"host": "podinfo-canary"}, "weight": 0}]

    for kind_name in EXPECTED_OBJECTS:
        kind, name = kind_name
        api_version = {"Deployment": "apps/v1", "Service": "v1", "DestinationRule": DR[0], "VirtualService": VS[0]}[kind]
        validate_object(store.get(api_version, kind, lab.namespace, name))


def test_config_tracking_copies_configs_and_honours_opt_out(lab):
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-env"},
                  "data": {"PODINFO_UI_COLOR": "#34577c"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "podinfo-token"}, "type": "Opaque",
              "data": {"token": base64.b64encode(b"s3cret").decode()}}
    shared = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared",
                                                                   "annotations": {"flagger.app/config-tracking": "disabled"}},
              "data": {"a": "1"}}
    deployment = podinfo_deployment(volumes=[{"name": "shared", "configMap": {"name": "shared"}}])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "podinfo-env"}}]
    container["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "podinfo-token", "key": "token"}}}]
    container["volumeMounts"] = [{"name": "shared", "mountPath": "/etc/shared"}]
    seed(lab, config_map, secret, shared, deployment)

    result = run_module(canary_init, lab, init_args())
    assert not result.get("failed"), result
    names = [(o["kind"], o["name"]) for o in result["objects"]]
    assert ("ConfigMap", "podinfo-env-primary") in names and ("Secret", "podinfo-token-primary") in names
    assert ("ConfigMap", "shared-primary") not in names
    assert lab.store.get("v1", "ConfigMap", lab.namespace, "shared-primary") is None
    copy_ = lab.store.get("v1", "Secret", lab.namespace, "podinfo-token-primary")
    assert copy_["data"] == secret["data"] and copy_["type"] == "Opaque"
    assert "s3cret" not in str(result) and secret["data"]["token"] not in str(result), "secret data leaked into the result"
    spec = lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary")["spec"]["template"]["spec"]
    assert spec["containers"][0]["envFrom"] == [{"configMapRef": {"name": "podinfo-env-primary"}}]
    assert spec["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "podinfo-token-primary"
    assert spec["volumes"][0]["configMap"]["name"] == "shared"
    for kind, name in (("ConfigMap", "podinfo-env-primary"), ("Secret", "podinfo-token-primary")):
        validate_object(lab.store.get("v1", kind, lab.namespace, name))


def test_hpa_is_copied_for_the_primary(lab):
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "podinfo"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}, "minReplicas": 2,
                    "maxReplicas": 4, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 99}}}]}}
    seed(lab, podinfo_deployment(), hpa)
    predicted = run_module(canary_init, lab, init_args(hpa="podinfo"), check=True)
    result = run_module(canary_init, lab, init_args(hpa="podinfo"))
    assert not result.get("failed"), result
    assert predicted["objects"] == result["objects"] and predicted["diff"] == result["diff"]
    assert {"kind": "HorizontalPodAutoscaler", "name": "podinfo-primary", "action": "created"} in result["objects"]
    copy_ = lab.store.get("autoscaling/v2", "HorizontalPodAutoscaler", lab.namespace, "podinfo-primary")
    assert copy_["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert copy_["spec"]["maxReplicas"] == 4
    validate_object(copy_)
    assert run_module(canary_init, lab, init_args(hpa="podinfo"))["changed"] is False


def test_rerun_keeps_the_rollouts_weights_and_reconciles_options(lab):
    seed(lab, podinfo_deployment())
    assert not run_module(canary_init, lab, init_args()).get("failed")
    vs = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    vs["spec"]["http"][0]["route"][0]["weight"] = 70
    vs["spec"]["http"][0]["route"][1]["weight"] = 30
    lab.store.update(vs)
    result = run_module(canary_init, lab, init_args(timeout="7s"))
    assert not result.get("failed"), result
    assert [o["name"] for o in result["objects"] if o["action"] == "updated"] == ["podinfo"]
    route = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")["spec"]["http"][0]
    assert route["timeout"] == "7s"
    assert [d["weight"] for d in route["route"]] == [70, 30]


def test_adopting_a_foreign_virtual_service_saves_its_spec(lab):
    foreign = {"apiVersion": VS[0], "kind": "VirtualService", "metadata": {"name": "podinfo"},
               "spec": {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}]}]}}
    seed(lab, podinfo_deployment(), foreign)
    before = snapshot(lab)
    refused = run_module(canary_init, lab, init_args())
    assert refused["failed"] and "adopt=true" in refused["msg"] and "VirtualService %s/podinfo" % lab.namespace in refused["msg"]
    assert snapshot(lab) == before

    predicted = run_module(canary_init, lab, init_args(adopt=True), check=True)
    assert snapshot(lab) == before
    adopted = run_module(canary_init, lab, init_args(adopt=True))
    assert not adopted.get("failed"), adopted
    for key in ("changed", "objects", "diff", "pod_template_hash"):
        assert predicted[key] == adopted[key], key
    assert {"kind": "VirtualService", "name": "podinfo", "action": "updated"} in adopted["objects"]
    vs = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    assert vs["metadata"]["annotations"]["progressive.delivery/original-spec"]
    import json
    assert json.loads(vs["metadata"]["annotations"]["progressive.delivery/original-spec"]) == foreign["spec"]
    assert vs["spec"]["http"][0]["route"][0] == {"destination": {"host": "podinfo-primary"}, "weight": 100}
    validate_object(vs)
    assert run_module(canary_init, lab, init_args(adopt=True))["changed"] is False


def test_service_name_and_ports(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, init_args(service_name="frontend", port=80, port_name="web", target_port="http"))
    assert not result.get("failed"), result
    svc = lab.store.get("v1", "Service", lab.namespace, "frontend-canary")
    assert svc["spec"]["ports"][0] == dict(svc["spec"]["ports"][0], name="web", port=80, targetPort="http")
    assert lab.store.get(VS[0], VS[1], lab.namespace, "frontend")["spec"]["hosts"] == ["frontend"]
    stripped = strip_object(lab.store.get(VS[0], VS[1], lab.namespace, "frontend"))
    assert copy.deepcopy(stripped)["spec"]["http"][0]["name"] == "frontend"


def test_rerun_during_a_rollout_leaves_the_canary_running(lab):
    seed(lab, podinfo_deployment())
    first = run_module(canary_init, lab, init_args())
    assert not first.get("failed"), first

    def new_revision(target):
        target["spec"]["replicas"] = 1
        target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.2"
    edit(lab, "apps/v1", "Deployment", "podinfo", new_revision)
    again = run_module(canary_init, lab, init_args())
    assert again["changed"] is False, again["objects"]
    assert again["pod_template_hash"] == first["pod_template_hash"], "the primary still runs the first revision"
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 1
    primary = lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
