import pytest

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing.services import build_services, service_port


def test_three_services_select_primary_and_canary_pods():
    port = service_port(9898)
    apex, primary, canary = build_services("test", "podinfo", {"app": "podinfo-primary"}, {"app": "podinfo"}, port)
    assert [s["metadata"]["name"] for s in (apex, primary, canary)] == ["podinfo", "podinfo-primary", "podinfo-canary"]
    assert apex["spec"]["selector"] == primary["spec"]["selector"] == {"app": "podinfo-primary"}
    assert canary["spec"]["selector"] == {"app": "podinfo"}
    assert apex["spec"]["ports"] == [{"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP"}]
    assert apex["spec"]["type"] == "ClusterIP"
    assert apex["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "progressive.delivery"}


@pytest.mark.parametrize("target_port, expected", [(None, 80), (8080, 8080), ("8080", 8080), ("http", "http")])
def test_target_port_number_or_name(target_port, expected):
    assert service_port(80, "web", target_port) == {"name": "web", "port": 80, "targetPort": expected, "protocol": "TCP"}


@pytest.mark.parametrize("port, target_port, field", [(0, None, "port"), (70000, None, "port"), ("80", None, "port"),
                                                      (80, 0, "target_port"), (80, "", "target_port"), (80, [1], "target_port")])
def test_bad_ports(port, target_port, field):
    with pytest.raises(CanaryError) as err:
        service_port(port, "http", target_port)
    assert err.value.field == field and field in str(err.value)
