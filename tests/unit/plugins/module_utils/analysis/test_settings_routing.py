"""The router settings of the role: Gateway API HTTPRoute, Istio subset mode; each error names the variable."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

from tests.unit.plugins.module_utils.analysis.test_settings import BASE

SEED_001 = {"stable_deployment": "backend-v1", "stable": "v1", "canary": "v2"}


def validate(**changes):
    variables = copy.deepcopy(BASE)
    variables.update(target="backend-v2" if "subsets" in changes else "podinfo")
    service = changes.pop("service", None)
    if service is not None:
        variables["service"] = dict(variables["service"], **service)
    variables.update(changes)
    return settings.validate(variables)


def test_istio_host_mode_is_the_default():
    result = validate()
    assert result["routing"] == {"router": "istio"}
    assert result["names"]["primary"] == "podinfo-primary" and result["subset_mode"] is False


def test_gatewayapi_with_the_users_http_route():
    result = validate(router="gatewayapi", http_route={"name": "podinfo", "rule": "canary", "namespace": None})
    assert result["routing"] == {"router": "gatewayapi", "http_route": {"name": "podinfo", "rule": "canary"}}
    assert result["init_routing"] == {"parent_refs": None, "hostnames": None}


def test_gatewayapi_with_a_created_http_route():
    refs = [{"name": "public", "namespace": "istio-ingress"}]
    result = validate(router="gatewayapi", service={"gateway_refs": refs, "hosts": ["app.example.com"]})
    assert result["routing"] == {"router": "gatewayapi"}
    assert result["init_routing"] == {"parent_refs": refs, "hostnames": ["app.example.com"]}


def test_subset_mode_of_seed_001():
    result = validate(subsets=dict(SEED_001, route="primary-route"), service={"name": "backend"})
    assert result["routing"] == {"router": "istio", "mode": "subset", "primary_subset": "v1", "canary_subset": "v2",
                                 "route_name": "primary-route"}
    assert result["names"]["primary"] == "backend-v1" and result["subset_mode"] is True


@pytest.mark.parametrize("changes, words", [
    (dict(router="linkerd"), "rollout_router must be one of istio, gatewayapi"),
    (dict(router="gatewayapi"), "rollout_router=gatewayapi needs the HTTPRoute to shift: set rollout_http_route"),
    (dict(router="gatewayapi", http_route={"rule": 0}), "rollout_http_route.name is required"),
    (dict(router="gatewayapi", http_route={"name": "a", "hosts": []}), "rollout_http_route.hosts is not an option"),
    (dict(router="gatewayapi", http_route="podinfo"), "rollout_http_route must be a dictionary"),
    (dict(router="gatewayapi", http_route={"name": "a"}, service={"gateway_refs": [{"name": "g"}]}), "set one of them"),
    (dict(router="gatewayapi", service={"gateway_refs": "public"}), "rollout_service.gateway_refs must be a list"),
    (dict(router="gatewayapi", http_route={"name": "a"}, subsets=SEED_001), "rollout_subsets is Istio's subset mode"),
    (dict(http_route={"name": "a"}), "rollout_http_route is an option of rollout_router=gatewayapi"),
    (dict(service={"gateway_refs": [{"name": "g"}]}), "rollout_service.gateway_refs is an option of rollout_router=gatewayapi"),
    (dict(subsets={"stable": "v1", "canary": "v2"}, service={"name": "backend"}), "rollout_subsets.stable_deployment is required"),
    (dict(subsets=dict(SEED_001, canary="v1"), service={"name": "backend"}), "are both 'v1'"),
    (dict(subsets=dict(SEED_001, stable_deployment="backend-v2"), service={"name": "backend"}), "is the target 'backend-v2' itself"),
    (dict(subsets=dict(SEED_001, weights=[1]), service={"name": "backend"}), "rollout_subsets.weights is not an option"),
    (dict(subsets=SEED_001), "rollout_service.name is required in subset mode"),
])
def test_bad_router_settings_name_the_variable(changes, words):
    with pytest.raises(settings.SettingsError) as err:
        validate(**changes)
    assert words in str(err.value), str(err.value)
