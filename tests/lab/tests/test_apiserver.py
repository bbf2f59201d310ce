"""The emulated API server on the wire: discovery, auth, CRUD, selectors, errors, patches, subresources, watch."""

import json
import threading

import pytest

from tests.lab.apiserver import start_apiserver
from tests.lab.tests._http import call, deployment, virtual_service

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
VIRTUALSERVICES = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"


@pytest.fixture
def api():
    """The API server alone: no controller writes status behind the test's back."""
    server = start_apiserver()
    try:
        yield server
    finally:
        server.stop()


def configmap(name="settings", labels=None, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}, "data": data or {"a": "1"}}


# --------------------------------------------------------------------------- discovery and auth
def test_discovery_lists_groups_resources_and_subresources(api):
    version = call(api, "GET", "/version").json
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    assert call(api, "GET", "/api").json["versions"] == ["v1"]
    groups = {g["name"]: [v["version"] for v in g["versions"]] for g in call(api, "GET", "/apis").json["groups"]}
    assert groups["apps"] == ["v1"]
    assert groups["autoscaling"] == ["v2"]
    assert groups["coordination.k8s.io"] == ["v1"]
    assert groups["networking.istio.io"] == ["v1", "v1beta1", "v1alpha3"]
    assert groups["gateway.networking.k8s.io"] == ["v1", "v1beta1"]

    apps = {r["name"]: r for r in call(api, "GET", "/apis/apps/v1").json["resources"]}
    assert apps["deployments"]["kind"] == "Deployment"
    assert apps["deployments"]["namespaced"] is True
    assert apps["deployments"]["singularName"] == "deployment"
    assert "deploy" in apps["deployments"]["shortNames"]
    assert set(apps["deployments"]["verbs"]) >= {"create", "get", "list", "patch", "update", "delete", "watch"}
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    assert "deployments/status" in apps

    core = {r["name"]: r for r in call(api, "GET", "/api/v1").json["resources"]}
    assert core["namespaces"]["namespaced"] is False
    assert {"pods", "services", "endpoints", "configmaps", "secrets", "events"} <= set(core)
    istio = {r["name"] for r in call(api, "GET", "/apis/networking.istio.io/v1beta1").json["resources"]}
    assert {"virtualservices", "destinationrules", "gateways"} <= istio
    assert call(api, "GET", "/apis/no.such.group/v1").status == 404


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_requests_without_the_right_bearer_token_get_401_status(api, token):
    response = call(api, "GET", CONFIGMAPS, token=token)
    assert response.status == 401
    assert response.json["kind"] == "Status"
    assert response.json["reason"] == "Unauthorized"
    assert response.json["code"] == 401


def test_kubeconfig_points_at_the_server_with_its_token(api, tmp_path):
    import yaml

    config = yaml.safe_load(open(api.write_kubeconfig(tmp_path / "kubeconfig", namespace="test")))
    assert config["clusters"][0]["cluster"]["server"] == api.url
    assert config["users"][0]["user"]["token"] == api.token
    assert config["contexts"][0]["context"]["namespace"] == "test"


# --------------------------------------------------------------------------- CRUD and errors
def test_create_get_list_update_delete_with_versioning(api):
    created = call(api, "POST", CONFIGMAPS, configmap())
    assert created.status == 201
    meta = created.json["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["namespace"] == "default"
    assert "generation" not in meta  # ConfigMaps have none on a real server either

    fetched = call(api, "GET", CONFIGMAPS + "/settings").json
    assert fetched == created.json
    listed = call(api, "GET", CONFIGMAPS).json
    assert listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["settings"]
    assert "kind" not in listed["items"][0]  # built-in list items carry no kind, like a real server

    fetched["data"]["a"] = "2"
    updated = call(api, "PUT", CONFIGMAPS + "/settings", fetched)
    assert updated.status == 200
    assert int(updated.json["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    # A write that changes nothing keeps the resourceVersion.
    again = call(api, "PUT", CONFIGMAPS + "/settings", updated.json)
    assert again.json["metadata"]["resourceVersion"] == updated.json["metadata"]["resourceVersion"]

    deleted = call(api, "DELETE", CONFIGMAPS + "/settings")
    assert deleted.status == 200 and deleted.json["status"] == "Success"
    assert deleted.json["details"]["uid"] == meta["uid"]
    assert call(api, "GET", CONFIGMAPS + "/settings").status == 404


def test_not_found_and_missing_namespace_are_404_status_with_details(api):
    missing = call(api, "GET", DEPLOYMENTS + "/nope")
    assert missing.status == 404
    assert missing.json["reason"] == "NotFound"
    assert missing.json["message"] == 'deployments.apps "nope" not found'
    assert missing.json["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}

    no_namespace = call(api, "POST", "/api/v1/namespaces/ghost/configmaps", configmap())
    assert no_namespace.status == 404
    assert no_namespace.json["details"] == {"name": "ghost", "kind": "namespaces"}


def test_already_exists_and_stale_update_are_409(api):
    assert call(api, "POST", CONFIGMAPS, configmap()).status == 201
    duplicate = call(api, "POST", CONFIGMAPS, configmap())
    assert duplicate.status == 409 and duplicate.json["reason"] == "AlreadyExists"

    first = call(api, "GET", CONFIGMAPS + "/settings").json
    first["data"]["a"] = "from-first"
    assert call(api, "PUT", CONFIGMAPS + "/settings", first).status == 200
    stale = dict(first, data={"a": "from-a-stale-copy"})
    conflict = call(api, "PUT", CONFIGMAPS + "/settings", stale)
    assert conflict.status == 409
    assert conflict.json["reason"] == "Conflict"
    assert "the object has been modified" in conflict.json["message"]
    assert call(api, "GET", CONFIGMAPS + "/settings").json["data"]["a"] == "from-first"


def test_schema_invalid_objects_are_422_with_field_causes(api):
    bad = deployment(replicas="three")
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    response = call(api, "POST", DEPLOYMENTS, bad)
    assert response.status == 422
    assert response.json["reason"] == "Invalid"
    assert response.json["details"]["kind"] == "Deployment"
    fields = {cause["field"]: cause for cause in response.json["details"]["causes"]}
    assert fields["spec.replicas"]["reason"] == "FieldValueInvalid"
    assert fields["spec.template.spec.containers[0].image"]["reason"] == "FieldValueRequired"
    assert call(api, "GET", DEPLOYMENTS + "/web").status == 404  # nothing written


def test_semantic_validation_of_deployments(api):
    bad = deployment()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    response = call(api, "POST", DEPLOYMENTS, bad)
    assert response.status == 422
    assert "`selector` does not match template `labels`" in response.json["message"]

    assert call(api, "POST", DEPLOYMENTS, deployment(replicas=-1)).status == 422
    assert call(api, "POST", "/api/v1/namespaces/default/configmaps", configmap(name="Not_A_Name")).status == 422

    assert call(api, "POST", DEPLOYMENTS, deployment()).status == 201
    moved = call(api, "GET", DEPLOYMENTS + "/web").json
    moved["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    immutable = call(api, "PUT", DEPLOYMENTS + "/web", moved)
    assert immutable.status == 422 and "field is immutable" in immutable.json["message"]


def test_unknown_fields_are_dropped_with_a_warning_or_rejected_when_strict(api):
    body = configmap()
    body["bogus"] = 1
    response = call(api, "POST", CONFIGMAPS, body)
    assert response.status == 201
    assert "bogus" not in response.json
    assert 'unknown field \\"bogus\\"' in response.headers["Warning"]

    strict = call(api, "POST", CONFIGMAPS + "?fieldValidation=Strict", dict(configmap(name="other"), bogus=1))
    assert strict.status == 400
    assert 'unknown field "bogus"' in strict.json["message"]


def test_times_are_decoded_as_strictly_as_by_the_api_server(api):
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"

    def lease(name, renew):
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                "spec": {"holderIdentity": "me", "leaseDurationSeconds": 30, "renewTime": renew}}

    assert call(api, "POST", leases, lease("micro", "2026-01-02T03:04:05.123456Z")).status == 201
    seconds_only = call(api, "POST", leases, lease("seconds", "2026-01-02T03:04:05Z"))
    assert seconds_only.status == 400 and "2006-01-02T15:04:05.000000Z07:00" in seconds_only.json["message"]
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
             "lastTimestamp": "yesterday"}
    assert call(api, "POST", "/api/v1/namespaces/default/events", event).status == 400


def test_defaults_are_filled_in_like_a_real_server(api):
    created = call(api, "POST", DEPLOYMENTS, deployment()).json
    spec = created["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    container = spec["template"]["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"][0]["protocol"] == "TCP"
    assert spec["template"]["spec"]["restartPolicy"] == "Always"

    secret = call(api, "POST", "/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}, "stringData": {"token": "s3cr3t"}}).json
    assert secret["data"] == {"token": "czNjcjN0"} and "stringData" not in secret and secret["type"] == "Opaque"

    service = call(api, "POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}).json
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["clusterIP"].startswith("10.96.")
    assert service["spec"]["ports"][0]["protocol"] == "TCP"


def test_generation_moves_with_spec_changes_only(api):
    created = call(api, "POST", DEPLOYMENTS, deployment()).json
    assert created["metadata"]["generation"] == 1
    labelled = call(api, "PATCH", DEPLOYMENTS + "/web", {"metadata": {"labels": {"team": "a"}}},
                    "application/merge-patch+json").json
    assert labelled["metadata"]["generation"] == 1
    scaled = call(api, "PATCH", DEPLOYMENTS + "/web", {"spec": {"replicas": 5}}, "application/merge-patch+json").json
    assert scaled["metadata"]["generation"] == 2


def test_deletecollection_deletes_what_the_selector_matches(api):
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        call(api, "POST", CONFIGMAPS, configmap(name=name, labels={"app": app}))
    deleted = call(api, "DELETE", CONFIGMAPS + "?labelSelector=app%3Dweb")
    assert deleted.status == 200 and deleted.json["kind"] == "ConfigMapList"
    assert sorted(item["metadata"]["name"] for item in deleted.json["items"]) == ["a", "b"]
    assert [item["metadata"]["name"] for item in call(api, "GET", CONFIGMAPS).json["items"]] == ["c"]


def test_finalizers_hold_a_deleted_object_until_they_are_removed(api):
    call(api, "POST", CONFIGMAPS, dict(configmap(), metadata={"name": "settings", "finalizers": ["example.com/keep"]}))
    marked = call(api, "DELETE", CONFIGMAPS + "/settings")
    assert marked.status == 202 and marked.json["metadata"]["deletionTimestamp"]
    held = call(api, "GET", CONFIGMAPS + "/settings").json
    assert held["metadata"]["deletionTimestamp"] == marked.json["metadata"]["deletionTimestamp"]
    released = call(api, "PATCH", CONFIGMAPS + "/settings", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert released.status == 200
    assert call(api, "GET", CONFIGMAPS + "/settings").status == 404


# --------------------------------------------------------------------------- selectors
def test_label_and_field_selectors(api):
    for name, labels in (("a", {"app": "web", "track": "stable"}), ("b", {"app": "web", "track": "canary"}), ("c", {"app": "db"})):
        assert call(api, "POST", CONFIGMAPS, configmap(name=name, labels=labels)).status == 201

    def names(query):
        response = call(api, "GET", CONFIGMAPS + "?" + query)
        assert response.status == 200, response
        return sorted(item["metadata"]["name"] for item in response.json["items"])

    assert names("labelSelector=app%3Dweb") == ["a", "b"]
    assert names("labelSelector=app%3D%3Dweb,track!%3Dcanary") == ["a"]
    assert names("labelSelector=track+in+(canary,other)") == ["b"]
    assert names("labelSelector=app,track+notin+(canary)") == ["a", "c"]
    assert names("labelSelector=track") == ["a", "b"]
    assert names("labelSelector=!track") == ["c"]
    assert names("fieldSelector=metadata.name%3Db") == ["b"]
    assert names("fieldSelector=metadata.namespace%3Ddefault,metadata.name!%3Da") == ["b", "c"]
    unsupported = call(api, "GET", CONFIGMAPS + "?fieldSelector=data.a%3D1")
    assert unsupported.status == 400 and "field label not supported" in unsupported.json["message"]
    everywhere = call(api, "GET", "/api/v1/configmaps?labelSelector=app%3Ddb").json["items"]
    assert [item["metadata"]["name"] for item in everywhere] == ["c"]


# --------------------------------------------------------------------------- patches
def test_merge_patch(api):
    call(api, "POST", CONFIGMAPS, configmap(data={"a": "1", "b": "2"}))
    patched = call(api, "PATCH", CONFIGMAPS + "/settings", {"data": {"a": None, "c": "3"}}, "application/merge-patch+json")
    assert patched.status == 200 and patched.json["data"] == {"b": "2", "c": "3"}


def test_json_patch_and_failed_test_operation(api):
    call(api, "POST", DEPLOYMENTS, deployment())
    ops = [{"op": "test", "path": "/spec/replicas", "value": 2},
           {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "example/web:2.0"}]
    patched = call(api, "PATCH", DEPLOYMENTS + "/web", ops, "application/json-patch+json")
    assert patched.status == 200
    assert patched.json["spec"]["template"]["spec"]["containers"][0]["image"] == "example/web:2.0"
    failed = call(api, "PATCH", DEPLOYMENTS + "/web", [{"op": "test", "path": "/spec/replicas", "value": 9}], "application/json-patch+json")
    assert failed.status == 422


def test_strategic_merge_patch_merges_lists_by_their_keys(api):
    body = deployment()
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "example/sidecar:1"})
    call(api, "POST", DEPLOYMENTS, body)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "example/web:2.0", "env": [{"name": "B", "value": "2"}],
         "ports": [{"containerPort": 8080, "name": "web"}]},
        {"name": "sidecar", "$patch": "delete"},
    ]}}}}
    response = call(api, "PATCH", DEPLOYMENTS + "/web", patch, "application/strategic-merge-patch+json")
    assert response.status == 200, response
    containers = response.json["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    assert containers[0]["image"] == "example/web:2.0"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert containers[0]["ports"] == [{"name": "web", "containerPort": 8080, "protocol": "TCP"}]


def test_strategic_merge_patch_is_unsupported_for_istio_kinds(api):
    call(api, "POST", VIRTUALSERVICES, virtual_service())
    response = call(api, "PATCH", VIRTUALSERVICES + "/web", {"spec": {"hosts": ["x"]}}, "application/strategic-merge-patch+json")
    assert response.status == 415
    merged = call(api, "PATCH", VIRTUALSERVICES + "/web", {"spec": {"hosts": ["web", "web.default"]}}, "application/merge-patch+json")
    assert merged.status == 200 and merged.json["spec"]["hosts"] == ["web", "web.default"]


def test_server_side_apply_creates_then_merges(api):
    applied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n"
    first = call(api, "PATCH", CONFIGMAPS + "/applied?fieldManager=test", applied, "application/apply-patch+yaml")
    assert first.status == 201
    second = call(api, "PATCH", CONFIGMAPS + "/applied?fieldManager=test", applied.replace("'1'", "'2'"), "application/apply-patch+yaml")
    assert second.status == 200 and second.json["data"] == {"a": "2"}


# --------------------------------------------------------------------------- subresources
def test_status_subresource_separates_spec_and_status(api):
    call(api, "POST", DEPLOYMENTS, deployment())
    current = call(api, "GET", DEPLOYMENTS + "/web").json
    current["status"] = {"replicas": 7}
    current["spec"]["replicas"] = 4
    via_status = call(api, "PUT", DEPLOYMENTS + "/web/status", current).json
    assert via_status["status"] == {"replicas": 7}
    assert via_status["spec"]["replicas"] == 2  # spec changes sent to /status are ignored

    via_status["status"] = {"replicas": 1}
    via_main = call(api, "PUT", DEPLOYMENTS + "/web", via_status).json
    assert via_main["status"] == {"replicas": 7}  # status sent to the main resource is ignored

    patched = call(api, "PATCH", DEPLOYMENTS + "/web/status", {"status": {"readyReplicas": 3}}, "application/merge-patch+json").json
    assert patched["status"] == {"replicas": 7, "readyReplicas": 3}


def test_scale_subresource_get_put_patch(api):
    call(api, "POST", DEPLOYMENTS, deployment())
    scale = call(api, "GET", DEPLOYMENTS + "/web/scale").json
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "app=web"

    scale["spec"]["replicas"] = 4
    assert call(api, "PUT", DEPLOYMENTS + "/web/scale", scale).json["spec"]["replicas"] == 4
    stale = call(api, "PUT", DEPLOYMENTS + "/web/scale", scale)
    assert stale.status == 409

    # kubernetes.core.k8s_scale sends this body as a strategic merge patch.
    body = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 1}}
    assert call(api, "PATCH", DEPLOYMENTS + "/web/scale", body, "application/strategic-merge-patch+json").json["spec"]["replicas"] == 1
    assert call(api, "GET", DEPLOYMENTS + "/web").json["spec"]["replicas"] == 1
    negative = call(api, "PATCH", DEPLOYMENTS + "/web/scale", {"spec": {"replicas": -1}}, "application/merge-patch+json")
    assert negative.status == 422 and negative.json["details"]["causes"][0]["field"] == "spec.replicas"


# --------------------------------------------------------------------------- Istio and Gateway API
def test_istio_objects_are_served_in_every_version(api):
    assert call(api, "POST", VIRTUALSERVICES, virtual_service()).status == 201
    beta = call(api, "GET", "/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/web").json
    assert beta["apiVersion"] == "networking.istio.io/v1beta1"
    alpha = call(api, "GET", "/apis/networking.istio.io/v1alpha3/namespaces/default/virtualservices/web").json
    assert alpha["apiVersion"] == "networking.istio.io/v1alpha3" and alpha["spec"] == beta["spec"]
    listed = call(api, "GET", VIRTUALSERVICES).json
    assert listed["items"][0]["kind"] == "VirtualService"  # custom resources keep kind in lists


def test_weights_are_relative_but_never_negative(api):
    relative = virtual_service(routes=[{"destination": {"host": "web-primary"}, "weight": 3},
                                       {"destination": {"host": "web-canary"}, "weight": 1}])
    assert call(api, "POST", VIRTUALSERVICES, relative).status == 201

    negative = virtual_service(name="neg", routes=[{"destination": {"host": "web-primary"}, "weight": 110},
                                                   {"destination": {"host": "web-canary"}, "weight": -10}])
    response = call(api, "POST", VIRTUALSERVICES, negative)
    assert response.status == 422
    assert response.json["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": "weight -10 < 0", "field": "spec.http[0].route[1].weight"}]

    zero = virtual_service(name="zero", routes=[{"destination": {"host": "a"}, "weight": 0}, {"destination": {"host": "b"}, "weight": 0}])
    assert "total destination weight = 0" in call(api, "POST", VIRTUALSERVICES, zero).json["message"]


@pytest.mark.parametrize("http, field", [
    ({"mirror": {"host": "web-canary"}, "mirrorPercentage": {"value": 150.0}}, "spec.http[0].mirrorPercentage"),
    ({"retries": {"attempts": -1}}, "spec.http[0].retries.attempts"),
    ({"timeout": "ten seconds"}, "spec.http[0].timeout"),
])
def test_istio_webhook_rules(api, http, field):
    response = call(api, "POST", VIRTUALSERVICES, virtual_service(**http))
    assert response.status == 422, response
    assert field in [cause["field"] for cause in response.json["details"]["causes"]]


def test_istio_unknown_fields_are_dropped_with_a_warning_or_rejected_when_strict(api):
    typo = virtual_service(routes=[{"destination": {"host": "web"}, "weigth": 100}])
    response = call(api, "POST", VIRTUALSERVICES, typo)
    assert response.status == 201
    assert response.json["spec"]["http"][0]["route"] == [{"destination": {"host": "web"}}]
    assert 'unknown field \\"spec.http[0].route[0].weigth\\"' in response.headers["Warning"]
    typo["metadata"]["name"] = "strict"
    strict = call(api, "POST", VIRTUALSERVICES + "?fieldValidation=Strict", typo)
    assert strict.status == 400 and 'unknown field "spec.http[0].route[0].weigth"' in strict.json["message"]


def test_istio_schema_errors(api):
    no_host = virtual_service(routes=[{"destination": {"subset": "canary"}, "weight": 100}])
    response = call(api, "POST", VIRTUALSERVICES, no_host)
    assert response.status == 422
    assert response.json["details"]["causes"][0]["field"] == "spec.http[0].route[0].destination.host"
    string_weight = virtual_service(routes=[{"destination": {"host": "web"}, "weight": "50"}])
    assert call(api, "POST", VIRTUALSERVICES, string_weight).status == 422

    rule = {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": "web"},
            "spec": {"host": "web", "subsets": [{"name": "Primary", "labels": {"app": "web"}}]}}
    invalid = call(api, "POST", "/apis/networking.istio.io/v1beta1/namespaces/default/destinationrules", rule)
    assert invalid.status == 422 and "subset name is invalid" in invalid.json["message"]


def test_httproute_structural_checks(api):
    path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
             "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "web-primary", "port": 80, "weight": 90},
                                                                                 {"name": "web-canary", "port": 80, "weight": 10}]}]}}
    assert call(api, "POST", path, route).status == 201
    route["metadata"]["name"] = "bad"
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = -1
    assert call(api, "POST", path, route).status == 422


# --------------------------------------------------------------------------- dry run
def _watched(api):
    events = []
    unsubscribe = api.store.subscribe(lambda kind, obj: events.append((kind, obj["metadata"]["name"])))
    return events, unsubscribe


def test_dry_run_create_answers_what_would_be_stored_and_stores_nothing(api):
    events, unsubscribe = _watched(api)
    version = api.store.resource_version
    dry = call(api, "POST", DEPLOYMENTS + "?dryRun=All", deployment())
    assert dry.status == 201
    meta = dry.json["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert "resourceVersion" not in meta  # only storage assigns one
    assert dry.json["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert call(api, "GET", DEPLOYMENTS + "/web").status == 404
    assert api.store.resource_version == version and events == []
    unsubscribe()

    real = call(api, "POST", DEPLOYMENTS, deployment()).json
    for key in ("uid", "creationTimestamp", "resourceVersion"):
        real["metadata"].pop(key)
        meta.pop(key, None)
    assert dry.json == real, "a dry run answers the object a real create stores"


def test_dry_run_create_fails_like_a_real_create(api):
    call(api, "POST", CONFIGMAPS, configmap())
    events, unsubscribe = _watched(api)
    version = api.store.resource_version
    exists = call(api, "POST", CONFIGMAPS + "?dryRun=All", configmap())
    assert exists.status == 409 and exists.json["reason"] == "AlreadyExists"
    invalid = call(api, "POST", VIRTUALSERVICES + "?dryRun=All", virtual_service(timeout="120"))
    assert invalid.status == 422 and invalid.json["kind"] == "Status" and invalid.json["reason"] == "Invalid"
    assert invalid.json["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": 'Invalid value: "120": invalid duration', "field": "spec.http[0].timeout"}]
    strict = call(api, "POST", VIRTUALSERVICES + "?dryRun=All&fieldValidation=Strict",
                  virtual_service(routes=[{"destination": {"host": "web"}, "weigth": 100}]))
    assert strict.status == 400 and 'unknown field "spec.http[0].route[0].weigth"' in strict.json["message"]
    missing = call(api, "POST", "/api/v1/namespaces/ghost/configmaps?dryRun=All", configmap())
    assert missing.status == 404
    assert call(api, "GET", VIRTUALSERVICES + "/web").status == 404
    assert api.store.resource_version == version and events == []
    unsubscribe()


def test_dry_run_patch_update_and_delete_change_nothing(api):
    stored = call(api, "POST", CONFIGMAPS, configmap(data={"a": "1"})).json
    events, unsubscribe = _watched(api)
    version = api.store.resource_version

    patched = call(api, "PATCH", CONFIGMAPS + "/settings?dryRun=All", {"data": {"a": "2"}}, "application/merge-patch+json")
    assert patched.status == 200 and patched.json["data"] == {"a": "2"}
    assert patched.json["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    guarded = {"metadata": {"resourceVersion": stored["metadata"]["resourceVersion"]}, "data": {"a": "3"}}
    assert call(api, "PATCH", CONFIGMAPS + "/settings?dryRun=All", guarded, "application/merge-patch+json").status == 200
    stale = {"metadata": {"resourceVersion": "1"}, "data": {"a": "3"}}
    assert call(api, "PATCH", CONFIGMAPS + "/settings?dryRun=All", stale, "application/merge-patch+json").status == 409
    replaced = call(api, "PUT", CONFIGMAPS + "/settings?dryRun=All", dict(stored, data={"a": "4"}))
    assert replaced.status == 200 and replaced.json["data"] == {"a": "4"}
    assert call(api, "DELETE", CONFIGMAPS + "/settings?dryRun=All").status == 200
    assert call(api, "DELETE", CONFIGMAPS + "/settings", {"dryRun": ["All"]}).status == 200

    assert call(api, "GET", CONFIGMAPS + "/settings").json == stored
    assert api.store.resource_version == version and events == []
    unsubscribe()
    response = call(api, "GET", CONFIGMAPS + "?watch=true&timeoutSeconds=1&resourceVersion=" + stored["metadata"]["resourceVersion"])
    assert [line for line in response.raw.splitlines() if line.strip()] == [], "a dry run sends no watch event"


def test_dry_run_patch_of_an_istio_object_is_validated(api):
    call(api, "POST", VIRTUALSERVICES, virtual_service())
    negative = {"spec": {"http": [{"route": [{"destination": {"host": "web-primary"}, "weight": 110},
                                             {"destination": {"host": "web-canary"}, "weight": -10}]}]}}
    response = call(api, "PATCH", VIRTUALSERVICES + "/web?dryRun=All", negative, "application/merge-patch+json")
    assert response.status == 422 and "weight -10 < 0" in response.json["message"]
    assert call(api, "GET", VIRTUALSERVICES + "/web").json["spec"]["http"][0]["route"][1]["weight"] == 0


@pytest.mark.parametrize("method, path, body, options", [
    ("POST", CONFIGMAPS, configmap(name="other"), "CreateOptions"),
    ("PATCH", CONFIGMAPS + "/settings", {"data": {"a": "2"}}, "PatchOptions"),
    ("PUT", CONFIGMAPS + "/settings", configmap(data={"a": "2"}), "UpdateOptions"),
    ("DELETE", CONFIGMAPS + "/settings", None, "DeleteOptions"),
])
def test_an_unknown_dry_run_value_is_refused_before_anything_is_done(api, method, path, body, options):
    call(api, "POST", CONFIGMAPS, configmap())
    before = call(api, "GET", CONFIGMAPS + "/settings").json
    response = call(api, method, path + "?dryRun=true", body, "application/merge-patch+json" if method == "PATCH" else "application/json")
    assert response.status == 422, response
    assert response.json["reason"] == "Invalid"
    assert response.json["message"] == '%s.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"true"}: supported values: "All"' % options
    assert response.json["details"]["causes"][0]["field"] == "dryRun"
    assert call(api, "GET", CONFIGMAPS + "/settings").json == before
    assert call(api, "GET", CONFIGMAPS + "/other").status == 404


def test_annotations_are_limited_to_256_kib_in_total(api):
    fits = configmap(name="fits")
    fits["metadata"]["annotations"] = {"a": "x" * (256 * 1024 - 1)}
    assert call(api, "POST", CONFIGMAPS, fits).status == 201
    too_big = {"metadata": {"annotations": {"b": "y"}}}
    response = call(api, "PATCH", CONFIGMAPS + "/fits", too_big, "application/merge-patch+json")
    assert response.status == 422
    assert response.json["details"]["causes"] == [
        {"reason": "FieldValueTooLong", "message": "Too long: may not be more than 262144 bytes", "field": "metadata.annotations"}]


# --------------------------------------------------------------------------- watch and the store API
def test_watch_streams_events_with_resource_versions(api, tmp_path):
    from kubernetes import config, watch

    call(api, "POST", CONFIGMAPS, configmap(name="before"))
    client = config.new_client_from_config(api.write_kubeconfig(tmp_path / "kubeconfig"))
    from kubernetes.client import CoreV1Api

    core = CoreV1Api(client)
    seen = []

    def writer():
        call(api, "POST", CONFIGMAPS, configmap(name="during"))
        call(api, "PATCH", CONFIGMAPS + "/during", {"data": {"a": "2"}}, "application/merge-patch+json")
        call(api, "DELETE", CONFIGMAPS + "/during")

    stream = watch.Watch()
    thread = None
    for event in stream.stream(core.list_namespaced_config_map, "default", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name, int(event["object"].metadata.resource_version)))
        if thread is None:
            thread = threading.Thread(target=writer)
            thread.start()
        if event["type"] == "DELETED":
            stream.stop()
    thread.join()
    assert [(kind, name) for kind, name, _ in seen] == [("ADDED", "before"), ("ADDED", "during"), ("MODIFIED", "during"),
                                                        ("DELETED", "during")]
    versions = [rv for _, _, rv in seen]
    assert versions == sorted(versions)


def test_watch_from_a_resource_version_replays_later_events(api):
    first = call(api, "POST", CONFIGMAPS, configmap(name="one")).json
    call(api, "POST", CONFIGMAPS, configmap(name="two"))
    response = call(api, "GET", CONFIGMAPS + "?watch=true&timeoutSeconds=1&resourceVersion=" + first["metadata"]["resourceVersion"])
    events = [json.loads(line) for line in response.raw.splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "two")]


def test_store_api_validates_controller_writes_and_notifies_subscribers(api):
    from tests.lab.apiserver.errors import ApiError

    events = []
    unsubscribe = api.store.subscribe(lambda kind, obj: events.append((kind, obj["metadata"]["name"])))
    created = api.store.create(configmap(name="direct") | {"metadata": {"name": "direct", "namespace": "default"}})
    with pytest.raises(ApiError) as invalid:
        api.store.create(deployment(replicas=-3))
    assert invalid.value.code == 422
    stale = dict(created, data={"a": "x"})
    api.store.update(dict(created, data={"a": "y"}))
    with pytest.raises(ApiError) as conflict:
        api.store.update(stale)
    assert conflict.value.code == 409
    api.store.delete("v1", "ConfigMap", "default", "direct")
    unsubscribe()
    assert events == [("ADDED", "direct"), ("MODIFIED", "direct"), ("DELETED", "direct")]
    assert api.store.get("v1", "ConfigMap", "default", "direct") is None
