"""canary_route's session_affinity and mirror_match against the lab's real API server: check mode, diff,
idempotence, what canary_route_info reads back, and bad input refused with nothing written."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import strip_object
from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote, canary_route, canary_route_info

from tests.modules.cluster.harness import edit, podinfo_deployment, run_module, seed, snapshot, validate_object

VS = ("networking.istio.io/v1beta1", "VirtualService")
ARGS = dict(target="podinfo")
AFFINITY = {"cookie_name": "canary-affinity", "max_age": 600}
QA = [{"headers": {"x-team": {"exact": "qa"}}}]


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, dict(ARGS, wait_timeout=30))
    assert not result.get("failed"), result
    return lab


def route(lab, check=False, **kwargs):
    return run_module(canary_route, lab, dict(ARGS, **kwargs), check=check)


def stored_vs(lab):
    return lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")


def http_names(lab):
    return [r["name"] for r in stored_vs(lab)["spec"]["http"]]


def assert_predicted_then_real_then_idempotent(lab, **kwargs):
    before = snapshot(lab)
    predicted = route(lab, check=True, **kwargs)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab) == before, "check mode wrote to the cluster"
    real = route(lab, **kwargs)
    assert not real.get("failed"), real
    for key in ("changed", "weights", "virtual_service", "diff", "objects", "match", "mirror", "mirror_match", "session_affinity"):
        assert predicted[key] == real[key], key
    assert real["changed"] is True
    assert real["virtual_service"]["spec"] == strip_object(stored_vs(lab))["spec"]
    validate_object(stored_vs(lab))
    rv = stored_vs(lab)["metadata"]["resourceVersion"]
    again = route(lab, **kwargs)
    assert again["changed"] is False, again.get("diff")
    assert stored_vs(lab)["metadata"]["resourceVersion"] == rv
    return real


def test_session_affinity_check_mode_diff_idempotence_and_removal(initialised):
    lab = initialised
    real = assert_predicted_then_real_then_idempotent(lab, weight=50, session_affinity=AFFINITY)
    assert http_names(lab) == ["podinfo-canary-sticky", "podinfo"]
    affinity = real["session_affinity"]
    assert affinity["cookie_name"] == "canary-affinity" and affinity["max_age"] == 600 and len(affinity["cookie_value"]) == 16
    after = real["diff"]["after"]["VirtualService/podinfo"]["spec"]["http"]
    assert after[1]["route"][1]["headers"]["response"]["add"]["Set-Cookie"] == "canary-affinity=%s; Max-Age=600" % affinity["cookie_value"]
    assert len(real["diff"]["before"]["VirtualService/podinfo"]["spec"]["http"]) == 1

    # the next weight step of the same revision keeps the cookie
    step = route(lab, weight=60, session_affinity=AFFINITY)
    assert step["changed"] is True and step["session_affinity"] == affinity

    info = run_module(canary_route_info, lab, dict(ARGS))
    assert info["session_affinity"] == affinity and info["mirror_match"] is None

    # a new revision of the target gets a new cookie
    edit(lab, "apps/v1", "Deployment", "podinfo",
         lambda target: target["spec"]["template"]["metadata"].setdefault("annotations", {}).update(rev="2"))
    renewed = route(lab, weight=60, session_affinity=AFFINITY)
    assert renewed["changed"] is True and renewed["session_affinity"]["cookie_value"] != affinity["cookie_value"]

    removed = route(lab, weight=60)
    assert removed["changed"] is True and removed["session_affinity"] is None
    assert http_names(lab) == ["podinfo"] and "headers" not in stored_vs(lab)["spec"]["http"][0]["route"][1]

    # weight 0 without a match: the canary gets no traffic, so no sticky route
    zero = route(lab, weight=0, session_affinity=AFFINITY)
    assert zero["session_affinity"] is None and http_names(lab) == ["podinfo"]


def test_mirror_match_check_mode_diff_idempotence_info_and_promotion_removes_it(initialised):
    lab = initialised
    real = assert_predicted_then_real_then_idempotent(lab, weight=20, mirror_match=QA, mirror_weight=50)
    assert http_names(lab) == ["podinfo-canary-mirror", "podinfo"]
    assert real["mirror_match"] == QA and real["mirror"] is False and real["weights"] == {"primary": 80, "canary": 20}
    mirror_route = stored_vs(lab)["spec"]["http"][0]
    assert mirror_route["mirror"] == {"host": "podinfo-canary"} and mirror_route["mirrorPercentage"] == {"value": 50.0}
    assert mirror_route["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100}]

    info = run_module(canary_route_info, lab, dict(ARGS))
    assert info["mirror_match"] == QA and info["mirror_weight"] == 50.0 and info["mirror"] is False

    all_three = route(lab, weight=20, mirror_match=QA, session_affinity=AFFINITY, match=[{"headers": {"x-canary": {"exact": "1"}}}])
    assert not all_three.get("failed"), all_three
    assert http_names(lab) == ["podinfo-canary-sticky", "podinfo-canary-match", "podinfo-canary-mirror", "podinfo"]
    validate_object(stored_vs(lab))

    promoted = run_module(canary_promote, lab, dict(ARGS, scale_down_delay=0, timeout=30))
    assert not promoted.get("failed"), promoted
    assert http_names(lab) == ["podinfo"]
    info = run_module(canary_route_info, lab, dict(ARGS))
    assert info["mirror_match"] is None and info["session_affinity"] is None and info["match"] is None


def assert_refused(lab, args, *words):
    before = snapshot(lab)
    result = run_module(canary_route, lab, dict(ARGS, **args))
    assert result.get("failed"), result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert snapshot(lab) == before, "a refused call wrote to the cluster"
    return result


@pytest.mark.parametrize("args, words", [
    (dict(weight=10, session_affinity={"cookie_name": ""}), ("session_affinity.cookie_name", "non-empty")),
    (dict(weight=10, session_affinity={"cookie_name": "my cookie"}), ("session_affinity.cookie_name", "not a valid cookie name")),
    (dict(weight=10, session_affinity={"cookie_name": "a;b=c"}), ("session_affinity.cookie_name", "not a valid cookie name")),
    (dict(weight=10, session_affinity={"cookie_name": "c", "max_age": 0}), ("session_affinity.max_age", "above 0")),
    (dict(weight=10, session_affinity={"cookie_name": "c", "max_age": -1}), ("session_affinity.max_age", "above 0")),
    (dict(weight=10, session_affinity={"max_age": 60}), ("cookie_name",)),
    (dict(weight=10, mirror_match="x-team"), ("mirror_match",)),
    (dict(weight=10, mirror_match=[]), ("mirror_match", "omit mirror_match")),
    (dict(weight=10, mirror_match=[{"headers": {"X-Team": {"exact": "qa"}}}]), ("mirror_match[0].headers", "lowercase")),
    (dict(weight=10, mirror_weight=20), ("mirror_weight", "mirror=true", "mirror_match")),
    (dict(weight=0, mirror=True, mirror_match=QA), ("mirror_match", "set one of them")),
])
def test_bad_affinity_and_mirror_input_is_refused_naming_the_field(initialised, args, words):
    assert_refused(initialised, args, *words)
