"""canary_route_info against the lab's real API server: the split read through the router, nothing written."""

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_route, canary_route_info

from tests.modules.cluster.harness import podinfo_deployment, run_module, seed, snapshot


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, dict(target="podinfo", wait_timeout=30))
    assert not result.get("failed"), result
    return lab


def test_reads_what_canary_route_wrote_and_writes_nothing(initialised):
    lab = initialised
    written = run_module(canary_route, lab, dict(target="podinfo", weight=30))
    assert not written.get("failed"), written
    before = snapshot(lab)
    for check in (False, True):
        info = run_module(canary_route_info, lab, dict(target="podinfo"), check=check)
        assert not info.get("failed"), info
        assert info["changed"] is False and info["router"] == "istio"
        assert info["weights"] == written["weights"] == {"primary": 70, "canary": 30}
        assert info["match"] is None and info["mirror"] is False
        assert info["destinations"] == [{"role": "primary", "destination": "podinfo-primary", "weight": 70},
                                        {"role": "canary", "destination": "podinfo-canary", "weight": 30}]
        assert info["route_object"] == {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "name": "podinfo"}
    assert snapshot(lab) == before


def test_missing_virtual_service_names_the_fix(lab):
    seed(lab, podinfo_deployment())
    info = run_module(canary_route_info, lab, dict(target="podinfo"))
    assert info["failed"] is True and "run progressive.delivery.canary_init first" in info["msg"]
