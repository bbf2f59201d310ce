"""Option validation of the cluster modules (plugins/module_utils/_options.py and the checks it uses)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import _options as options
from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import check_name
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

BASE = dict(namespace="test", target="podinfo")


def refused(validate, field, *words, **params):
    args = dict(BASE)
    args.update(params)
    with pytest.raises(CanaryError) as err:
        validate(args)
    assert err.value.field == field, (err.value.field, str(err.value))
    for word in words:
        assert word in str(err.value), (word, str(err.value))
    return str(err.value)


# --- what passes ---------------------------------------------------------------------------


def test_the_documented_examples_pass():
    options.validate_init(dict(BASE, port=9898, target_port=9898, hosts=["app.example.com"], wait_timeout=300,
                               gateways=["public-gateway.istio-system.svc.cluster.local", "mesh", "istio-system/public"],
                               hpa="podinfo", retries={"attempts": 3, "perTryTimeout": "1s", "retryOn": "5xx,connect-failure"},
                               timeout="1m30s", cors_policy={"allowOrigins": [{"exact": "https://example.com"}], "allowMethods": ["GET"],
                                                             "maxAge": "24h", "allowCredentials": False},
                               headers={"request": {"set": {"x-version": "2"}}, "response": {"remove": ["server"]}},
                               traffic_policy={"tls": {"mode": "ISTIO_MUTUAL"}, "portLevelSettings": [{"port": {"number": 80}}]}))
    options.validate_init(dict(BASE, target_port="http", retries={"attempts": 0}))
    options.validate_route(dict(BASE, weight=20, match=[{"headers": {"x-canary": {"exact": "insider"}}, "port": 80}]))
    options.validate_route(dict(namespace="istio-test", target="backend-v2", service_name="backend", mode="subset", primary_subset="v1",
                                canary_subset="v2", weight=10, mirror=True, mirror_weight=50))
    options.validate_promote(dict(BASE, timeout=300))
    options.validate_rollback(dict(BASE, reason="request-success-rate 87.5 < 99 (5 failed checks)"))


def test_fields_this_collection_does_not_know_are_left_to_the_cluster_schema():
    options.validate_init(dict(BASE, retries={"attempts": 2, "backoff": "25ms"}, cors_policy={"newField": 1},
                               traffic_policy={"somethingNew": {}}))


@pytest.mark.parametrize("value", ["120s", "1.5s", "500ms", "1m30s", "2h", "100us"])
def test_durations(value):
    assert istio.validate_duration(value, "timeout") == value


# --- canary_init ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["120", 120, "", "ten seconds", "1.5", "-1s", "1d", "s"])
def test_timeout_must_be_a_duration(value):
    message = refused(options.validate_init, "timeout", "timeout must be an Istio duration such as 120s or 1.5s", timeout=value)
    if value in (120, "120"):
        assert message.endswith("got 120")


@pytest.mark.parametrize("retries, words", [
    ({"attempts": 3, "perTryTimeout": "2"}, ("retries.perTryTimeout must be an Istio duration", "got 2")),
    ({"attempts": 3, "perTryTimeout": 2}, ("retries.perTryTimeout must be an Istio duration",)),
    ({"attempts": -1}, ("retries.attempts must be an integer >= 0", "got -1")),
    ({"attempts": "3"}, ("retries.attempts must be an integer >= 0",)),
    ({"attempts": True}, ("retries.attempts must be an integer >= 0",)),
    ({"attempts": 2.5}, ("retries.attempts must be an integer >= 0",)),
    ({"perTryTimeout": "2s"}, ("sets perTryTimeout but attempts is not set", "set retries.attempts to 1 or more")),
    ({"attempts": 0, "retryOn": "5xx"}, ("sets retryOn but attempts is 0",)),
    ({"attempts": 3, "retryOn": ["5xx"]}, ("retries.retryOn must be a string",)),
    ({"attempts": 3, "retryRemoteLocalities": "yes"}, ("retries.retryRemoteLocalities must be true or false",)),
    ([{"attempts": 3}], ("retries must be a mapping",)),
])
def test_retries(retries, words):
    refused(options.validate_init, "retries", *words, retries=retries)


@pytest.mark.parametrize("cors, words", [
    ("*", ("cors_policy must be a mapping",)),
    ({"allowOrigins": ["https://example.com"]}, ("cors_policy.allowOrigins must be a list of mappings",)),
    ({"allowOrigins": [{"exact": "a", "prefix": "b"}]}, ("cors_policy.allowOrigins[0] must be a string match", "exactly one of")),
    ({"allowOrigins": [{"suffix": "a"}]}, ("cors_policy.allowOrigins[0] must be a string match",)),
    ({"allowMethods": "GET"}, ("cors_policy.allowMethods must be a list of strings",)),
    ({"maxAge": 86400}, ("cors_policy.maxAge must be an Istio duration",)),
    ({"allowCredentials": "true"}, ("cors_policy.allowCredentials must be true or false",)),
])
def test_cors_policy(cors, words):
    refused(options.validate_init, "cors_policy", *words, cors_policy=cors)


@pytest.mark.parametrize("headers, words", [
    (["x-a"], ("headers must be a mapping",)),
    ({"request": ["x"]}, ("headers.request must be a mapping",)),
    ({"request": {"set": {"x-version": 2}}}, ("headers.request.set must be a mapping of names to strings", "quote")),
    ({"response": {"remove": "server"}}, ("headers.response.remove must be a list of strings",)),
])
def test_headers(headers, words):
    refused(options.validate_init, "headers", *words, headers=headers)


@pytest.mark.parametrize("policy, words", [
    ("ISTIO_MUTUAL", ("traffic_policy must be a mapping",)),
    ({"tls": "ISTIO_MUTUAL"}, ("traffic_policy.tls must be a mapping",)),
    ({"portLevelSettings": {"port": 80}}, ("traffic_policy.portLevelSettings must be a list of mappings",)),
])
def test_traffic_policy(policy, words):
    refused(options.validate_init, "traffic_policy", *words, traffic_policy=policy)


@pytest.mark.parametrize("params, field, words", [
    (dict(hosts=["app.example.com", "http://app.example.com"]), "hosts", ("hosts[1] must be a host name", "http://app.example.com")),
    (dict(hosts=[""]), "hosts", ("hosts[0] must be a host name",)),
    (dict(gateways=["istio system/public"]), "gateways", ("gateways[0]", "DNS-1123 label")),
    (dict(gateways=["Public"]), "gateways", ("gateways[0] (a Gateway name) must be a DNS-1123 subdomain",)),
    (dict(port=0), "port", ("port must be a TCP port number",)),
    (dict(port_name="HTTP"), "port_name", ("port_name (a Service port name) must be a DNS-1123 label",)),
    (dict(target_port="http-metrics-port"), "target_port", ("not a valid container port name", "at most 15")),
    (dict(target_port="9898a--"), "target_port", ("not a valid container port name",)),
    (dict(target_port=70000), "target_port", ("target_port must be 1-65535",)),
    (dict(hpa="Podinfo"), "hpa", ("hpa must be a DNS-1123 subdomain",)),
    (dict(wait_timeout=-1), "wait_timeout", ("wait_timeout must be a number of seconds, 0 or more",)),
    (dict(namespace="Test"), "namespace", ("namespace must be a DNS-1123 label",)),
    (dict(target="pod_info"), "target", ("target must be a DNS-1123 subdomain",)),
    (dict(target="a" * 250), "target", ("target is 250 characters long", "at most 245")),
])
def test_other_init_options(params, field, words):
    refused(options.validate_init, field, *words, **params)


def test_the_apex_must_do_for_three_service_names():
    message = refused(options.validate_init, "service_name", "DNS-1035 label", "starting with a letter", service_name="1podinfo")
    assert "got '1podinfo'" in message
    refused(options.validate_init, "service_name", "not set, so the target name is used; set service_name", target="my.app")
    refused(options.validate_init, "service_name", "service_name is 56 characters long", "-canary", "at most 55",
            service_name="a" * 56)
    options.validate_init(dict(BASE, service_name="a" * 55))
    # route, promote and rollback only name the VirtualService after it
    options.validate_route(dict(BASE, target="my.app"))


# --- canary_route, canary_promote, canary_rollback ---------------------------------------------


@pytest.mark.parametrize("params, field, words", [
    (dict(weight=101), "weight", ("between 0 and 100",)),
    (dict(mirror=True, mirror_weight=150), "mirror_weight", ("mirror_weight must be between 0 and 100",)),
    (dict(match=[{"headers": {"X-Canary": {"exact": "insider"}}}]), "match",
     ("match[0].headers: header name 'X-Canary' must be lowercase", "'x-canary'")),
    (dict(match=[{"withoutHeaders": {"Cookie": {"regex": "a"}}}]), "match", ("must be lowercase",)),
    (dict(match=[{"port": "80"}]), "match", ("match[0].port must be a port number",)),
    (dict(match=[{"ignoreUriCase": "yes"}]), "match", ("match[0].ignoreUriCase must be true or false",)),
    (dict(match=[{"gateways": "mesh"}]), "match", ("match[0].gateways must be a list of strings",)),
    (dict(mode="subset", primary_subset="V1", canary_subset="v2"), "primary_subset", ("an Istio subset name", "DNS-1123 label")),
    (dict(mode="subset", destination_host="backend/prod"), "destination_host", ("destination_host must be a host name",)),
    (dict(mode="subset", destination_host="*.prod"), "destination_host", ("destination_host must be a host name",)),
    (dict(service_name="Podinfo"), "service_name", ("DNS-1123 subdomain",)),
])
def test_route_options(params, field, words):
    refused(options.validate_route, field, *words, **params)


def test_query_parameter_names_may_have_capitals():
    options.validate_route(dict(BASE, match=[{"queryParams": {"Canary": {"exact": "1"}}}]))


def test_promote_options():
    refused(options.validate_promote, "timeout", "timeout must be a number of seconds, 0 or more, got -5", timeout=-5)
    refused(options.validate_promote, "canary_subset", "primary_subset and canary_subset are both", mode="subset",
            primary_subset="v1", canary_subset="v1")
    options.validate_promote(dict(BASE, timeout=0))


def test_rollback_reason_is_not_an_annotation_so_it_has_no_annotation_size_limit():
    refused(options.validate_rollback, "reason", "reason must be a string", reason=5)
    options.validate_rollback(dict(BASE, reason="x" * 262144))


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, rule, ok", [
    ("podinfo", "label", True), ("pod.info", "label", False), ("pod.info", "subdomain", True), ("1pod", "service", False),
    ("1pod", "label", True), ("-pod", "subdomain", False), ("Pod", "subdomain", False), ("a" * 63, "label", True),
    ("a" * 64, "label", False), ("", "label", False), (None, "label", False),
])
def test_check_name(value, rule, ok):
    if ok:
        assert check_name(value, "name", rule) == value
    else:
        with pytest.raises(CanaryError):
            check_name(value, "name", rule)
