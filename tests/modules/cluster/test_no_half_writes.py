"""No half-written canary: every option is validated before the first write, and every object a module
writes is dry-run on the API server before any is written for real, so a refusal of the last object
leaves nothing behind. Each test states the cluster before and proves it is unchanged after."""

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote, canary_rollback, canary_route

from tests.modules.cluster.admission import Webhook
from tests.modules.cluster.harness import PODINFO_IMAGE, edit, podinfo_deployment, run_module, seed, snapshot

VS = ("networking.istio.io/v1beta1", "VirtualService")
ARGS = dict(target="podinfo")
INIT = dict(ARGS, wait_timeout=30)


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, INIT)
    assert not result.get("failed"), result
    return lab


@pytest.fixture
def requests(lab, monkeypatch):
    """(method, dry run?) of every request the modules send to the API server (the test's own reads and
    writes through ``lab.store`` left out)."""
    from kubernetes.client import rest

    seen = []
    request = rest.RESTClientObject.request
    ours = lab.store._client.client.rest_client

    def recording(client, method, url, *args, **kwargs):
        if client is not ours:
            seen.append((method, "dryRun=All" in url))  # the query is in the URL already
        return request(client, method, url, *args, **kwargs)
    monkeypatch.setattr(rest.RESTClientObject, "request", recording)
    return seen


@pytest.fixture
def deny(lab):
    """An admission webhook on the real API server for this test's namespace only: ``deny(rule)``, where
    ``rule(kind, new, old)`` returns a reason to refuse the write (dry run or not), or None."""
    webhook = Webhook(lab)
    try:
        yield webhook.deny
    finally:
        webhook.stop()


def refused(lab, module, args, *words, **kwargs):
    """Run ``module``, expect a failure naming ``words``, and prove nothing was written."""
    before = snapshot(lab)
    result = run_module(module, lab, args, **kwargs)
    assert result.get("failed"), result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert snapshot(lab) == before, "a refused call wrote to the cluster"
    return result


def new_revision(lab):
    def change(target):
        target["spec"]["template"]["spec"]["containers"][0]["image"] = PODINFO_IMAGE % "6.0.2"
        target["spec"]["replicas"] = 1
    edit(lab, "apps/v1", "Deployment", "podinfo", change)


def set_canary_weight(lab, weight):
    result = run_module(canary_route, lab, dict(ARGS, weight=weight))
    assert not result.get("failed"), result


# --- options validated before the first write --------------------------------------------------


def test_init_with_a_timeout_without_unit_fails_before_any_write(lab):
    seed(lab, podinfo_deployment())
    for check in (True, False):
        result = refused(lab, canary_init, dict(INIT, timeout=120), "timeout must be an Istio duration such as 120s or 1.5s",
                         "got 120", check=check)
        assert result["field"] == "timeout"
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary") is None
    assert lab.store.list("v1", "Service", lab.namespace) == []
    assert lab.store.list("networking.istio.io/v1beta1", "DestinationRule", lab.namespace) == []
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 2


@pytest.mark.parametrize("options, field, words", [
    (dict(retries={"attempts": 3, "perTryTimeout": "2"}), "retries", ("retries.perTryTimeout must be an Istio duration", "got 2")),
    (dict(retries={"attempts": -1}), "retries", ("retries.attempts must be an integer >= 0",)),
    (dict(retries={"perTryTimeout": "2s"}), "retries", ("attempts is not set", "set retries.attempts to 1 or more")),
    (dict(cors_policy={"allowOrigins": [{"exact": "https://example.com"}], "maxAge": "1d"}), "cors_policy",
     ("cors_policy.maxAge must be an Istio duration",)),
    (dict(cors_policy={"allowOrigins": ["https://example.com"]}), "cors_policy", ("cors_policy.allowOrigins must be a list of mappings",)),
    (dict(headers={"request": {"set": {"x-version": 2}}}), "headers", ("headers.request.set must be a mapping of names to strings",)),
    (dict(traffic_policy={"tls": "ISTIO_MUTUAL"}), "traffic_policy", ("traffic_policy.tls must be a mapping",)),
    (dict(hosts=["https://app.example.com"]), "hosts", ("hosts[0] must be a host name",)),
    (dict(gateways=["Public-Gateway"]), "gateways", ("gateways[0]", "DNS-1123 subdomain")),
    (dict(port_name="HTTP"), "port_name", ("port_name (a Service port name) must be a DNS-1123 label",)),
    (dict(service_name="podinfo-with-a-name-that-is-much-too-long-for-a-service-name"), "service_name",
     ("service_name is 60 characters long", "at most 55")),
])
def test_init_bad_options_fail_before_any_write(lab, options, field, words):
    seed(lab, podinfo_deployment())
    result = refused(lab, canary_init, dict(INIT, **options), *words)
    assert result["field"] == field
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary") is None


def test_route_match_header_names_must_be_lowercase(initialised):
    result = refused(initialised, canary_route, dict(ARGS, weight=0, match=[{"headers": {"X-Canary": {"exact": "insider"}}}]),
                     "match[0].headers: header name 'X-Canary' must be lowercase", "write 'x-canary'")
    assert result["field"] == "match"


def test_route_subset_names_are_checked_before_the_cluster_is_read(initialised):
    result = refused(initialised, canary_route, dict(ARGS, weight=10, mode="subset", primary_subset="V1", canary_subset="v2"),
                     "primary_subset (an Istio subset name) must be a DNS-1123 label", "got 'V1'")
    assert result["field"] == "primary_subset"


def test_promote_with_a_negative_timeout_fails_before_touching_the_primary(initialised):
    lab = initialised
    new_revision(lab)
    set_canary_weight(lab, 30)
    result = refused(lab, canary_promote, dict(ARGS, timeout=-5), "timeout must be a number of seconds, 0 or more, got -5")
    assert result["field"] == "timeout"


# --- the API server refuses the last object: nothing written at all ---------------------------


def _is(kind, name):
    return lambda k, new, old: k == kind and new["metadata"]["name"] == name


def _scaled_to_zero(name):
    def rule(kind, new, old):
        return (kind == "Deployment" and new["metadata"]["name"] == name and (new.get("spec") or {}).get("replicas") == 0
                and old is not None and (old.get("spec") or {}).get("replicas") != 0)
    return rule


def _denying(rule, reason):
    return lambda kind, new, old: reason if rule(kind, new, old) else None


def test_init_refused_on_its_last_routing_object_writes_nothing(lab, deny):
    seed(lab, podinfo_deployment())
    deny(_denying(_is("VirtualService", "podinfo"), "VirtualServices need an owner label (policy)"))
    refused(lab, canary_init, INIT, "create VirtualService %s/podinfo" % lab.namespace, 'admission webhook "deny.lab.test" denied the request',
            "VirtualServices need an owner label", "nothing was written")
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary") is None


def test_init_refused_on_the_target_scale_down_writes_nothing(lab, deny):
    seed(lab, podinfo_deployment())
    deny(_denying(_scaled_to_zero("podinfo"), "scaling to 0 is frozen (policy)"))
    refused(lab, canary_init, INIT, "update Deployment %s/podinfo" % lab.namespace, "scaling to 0 is frozen", "nothing was written")


def test_route_refused_by_the_server_says_nothing_was_written(initialised, deny):
    deny(_denying(_is("VirtualService", "podinfo"), "traffic changes are frozen (policy)"))
    refused(initialised, canary_route, dict(ARGS, weight=10), "update VirtualService %s/podinfo" % initialised.namespace, "traffic changes are frozen",
            "nothing was written")


def test_promote_refused_on_the_target_scale_down_writes_nothing(initialised, deny):
    lab = initialised
    new_revision(lab)
    set_canary_weight(lab, 30)
    deny(_denying(_scaled_to_zero("podinfo"), "scaling to 0 is frozen (policy)"))
    refused(lab, canary_promote, dict(ARGS, timeout=30), "update Deployment %s/podinfo" % lab.namespace, "scaling to 0 is frozen", "nothing was written")


def test_rollback_refused_on_the_target_scale_down_still_routes_to_the_primary(initialised, deny):
    """A rollback is not all-or-nothing: traffic safety comes first, so a refused scale-down must not keep the
    traffic on the canary (the rollback is not rehearsed as a dry run)."""
    lab = initialised
    edit(lab, "apps/v1", "Deployment", "podinfo", lambda target: target["spec"].update(replicas=1))
    set_canary_weight(lab, 30)
    deny(_denying(_scaled_to_zero("podinfo"), "scaling to 0 is frozen (policy)"))
    result = run_module(canary_rollback, lab, dict(ARGS, reason="failed checks", scale_down_delay=0))
    assert result.get("failed"), result
    for word in ("the traffic is on the primary (weights 100/0)", "update Deployment %s/podinfo" % lab.namespace, "scaling to 0 is frozen"):
        assert word in result["msg"], (word, result["msg"])
    vs = lab.store.get("networking.istio.io/v1beta1", "VirtualService", lab.namespace, "podinfo")
    assert [d["weight"] for d in vs["spec"]["http"][0]["route"]] == [100, 0]
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 1


@pytest.mark.parametrize("options, words", [
    # Istio's schema: an enum value this collection does not check
    (dict(cors_policy={"allowOrigins": [{"exact": "https://example.com"}], "unmatchedPreflights": "DROP"}),
     ("create VirtualService {ns}/podinfo", "spec.http[0].corsPolicy.unmatchedPreflights")),
    # a field the schema does not know: a real write would drop it with a warning and never match
    (dict(retries={"attempts": 3, "perTryTimeot": "2s"}), ("create VirtualService {ns}/podinfo", "(400)",
                                                           'unknown field "spec.http[0].retries.perTryTimeot"')),
    (dict(traffic_policy={"loadBalancer": {"simple": "FASTEST"}}), ("create DestinationRule {ns}/podinfo-primary",
                                                                     "spec.trafficPolicy.loadBalancer")),
])
def test_init_options_only_the_server_schema_refuses_write_nothing(lab, options, words):
    seed(lab, podinfo_deployment())
    refused(lab, canary_init, dict(INIT, **options), *[word.format(ns=lab.namespace) for word in words + ("nothing was written",)])
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary") is None


# --- how the writes are sent -------------------------------------------------------------------


def test_every_write_is_dry_run_before_the_first_real_one(lab, requests):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, INIT)
    assert not result.get("failed"), result
    writes = [(method, dry) for method, dry in requests if method != "GET"]
    first_real = [dry for _, dry in writes].index(False)
    rehearsal, real = writes[:first_real], writes[first_real:]
    assert all(dry for _, dry in rehearsal) and not any(dry for _, dry in real), writes
    # 7 creates and the target's scale-down, each way (a patch is sent again after a 409 when a
    # controller changed other fields of the target meanwhile)
    for part in (rehearsal, real):
        methods = [method for method, _ in part]
        assert methods[:7] == ["POST"] * 7 and set(methods[7:]) == {"PATCH"}, writes


def test_check_mode_sends_nothing_not_even_a_dry_run(initialised, requests):
    lab = initialised
    new_revision(lab)
    del requests[:]
    for module, args in ((canary_init, INIT), (canary_route, dict(ARGS, weight=20)), (canary_promote, dict(ARGS, timeout=30)),
                         (canary_rollback, dict(ARGS, reason="x"))):
        result = run_module(module, lab, args, check=True)
        assert not result.get("failed") and result["changed"] is True or module is canary_init, result
    assert {method for method, _ in requests} == {"GET"}


def test_a_dry_run_can_update_what_it_created_and_stores_neither(lab):
    """An operation that creates an object and then changes it in the same run rehearses both."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Changes, Cluster, ClusterError, overlay
    from tests.modules.cluster.harness import _forget_client_state

    _forget_client_state()
    cluster = Cluster(get_api_client(kubeconfig=str(lab.kubeconfig)))
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": lab.namespace}, "data": {"a": "1"}}
    events = []
    stop_watch = lab.store.watch("v1", "ConfigMap", lab.namespace, lambda event, obj: events.append((event, obj["metadata"]["name"])))
    with cluster.dry_run_writes():
        created = cluster.write(None, config_map, Changes())
        cluster.write(created, overlay(created, {"data": {"a": "2"}}), Changes())
        with pytest.raises(ClusterError) as err:
            cluster.write(created, overlay(created, {"metadata": {"labels": {"bad label": "x"}}}), Changes())
    assert "rejected create ConfigMap %s/settings (422)" % lab.namespace in str(err.value) and "nothing was written" in str(err.value)
    assert lab.store.get("v1", "ConfigMap", lab.namespace, "settings") is None
    cluster.write(None, config_map, Changes())
    assert lab.store.get("v1", "ConfigMap", lab.namespace, "settings")["data"] == {"a": "1"}
    # the watch saw the real create, and nothing of the dry runs before it
    lab.wait_for(lambda: events, 10, "the watch event of the real create")
    stop_watch()
    assert events == [("ADDED", "settings")], events
