"""The translator's output driving a real Envoy (no API server: the state is written directly)."""

import http.client
import json
import os
import time
from collections import Counter

import pytest

from tests.lab.mesh.envoy import Envoy, free_port
from tests.lab.mesh.translate import dumps, translate
from tests.lab.podinfo.app import Config, PodinfoServer

from .test_mesh_translate import NS, base_state, endpoints, vs

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def apps():
    primary = PodinfoServer(Config(port=0, version="6.0.0")).start()
    canary = PodinfoServer(Config(port=0, version="6.0.1")).start()
    yield primary, canary
    primary.stop()
    canary.stop()


class Mesh:
    def __init__(self, directory, apps):
        self.primary, self.canary = apps
        self.envoy = Envoy(directory)
        self.mesh_port, self.ingress_port = free_port(), free_port()
        self.generation = 0

    def state(self, **extra):
        state = base_state(**extra)
        state["endpoints"] = [endpoints("podinfo", [("podinfo-primary-abc12-x", self.primary.port)]),
                              endpoints("podinfo-primary", [("podinfo-primary-abc12-x", self.primary.port)]),
                              endpoints("podinfo-canary", [("podinfo-def34-y", self.canary.port)])]
        return state

    def apply(self, state):
        self.generation += 1
        result = translate(state, self.mesh_port, self.ingress_port,
                           {"mesh": self.envoy.path("rds_mesh"), "ingress": self.envoy.path("rds_ingress")}, str(self.generation))
        os.makedirs(self.envoy.directory, exist_ok=True)
        return self.envoy.write(result, lambda doc: dumps(dict(doc, version_info="lab")))  # as MeshSync writes them

    def stat(self, name):
        for line in self.envoy.admin("/stats?filter=" + name).splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def rejected(self):
        return sum(self.stat(n) for n in ("cluster_manager.cds.update_rejected", "listener_manager.lds.update_rejected",
                                          "http.mesh.rds.mesh.update_rejected", "http.ingress.rds.ingress.update_rejected"))


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, apps):
    mesh = Mesh(str(tmp_path_factory.mktemp("envoy")), apps)
    mesh.apply(mesh.state())
    mesh.envoy.start()
    yield mesh
    mesh.envoy.stop()


def versions(conn, host, count, headers=None):
    seen = Counter()
    for _ in range(count):
        conn.request("GET", "/", headers=dict(headers or {}, Host=host))
        response = conn.getresponse()
        body = response.read()
        seen[json.loads(body)["version"] if response.status == 200 else response.status] += 1
    return seen


def weighted(primary, canary, **route):
    return vs({"hosts": ["podinfo"], "http": [dict({"route": [
        {"destination": {"host": "podinfo-primary"}, "weight": primary},
        {"destination": {"host": "podinfo-canary"}, "weight": canary}]}, **route)]})


def test_services_are_reachable_by_every_host_form(mesh):
    conn = http.client.HTTPConnection("127.0.0.1", mesh.mesh_port, timeout=5)
    for host, version in (("podinfo.test", "6.0.0"), ("podinfo-canary.test:9898", "6.0.1"),
                          ("podinfo-primary.test.svc", "6.0.0"), ("podinfo-canary.test.svc.cluster.local:9898", "6.0.1")):
        assert versions(conn, host, 3) == {version: 3}, host
    assert versions(conn, "unknown.test", 1) == {404: 1}


def test_weight_change_is_live_within_a_second_on_a_kept_alive_connection(mesh):
    conn = http.client.HTTPConnection("127.0.0.1", mesh.mesh_port, timeout=5)
    mesh.apply(mesh.state(virtualservices=[weighted(100, 0)]))
    deadline = time.monotonic() + 1.0
    while versions(conn, "podinfo.test", 1) != {"6.0.0": 1}:
        assert time.monotonic() < deadline
    assert versions(conn, "podinfo.test", 50) == {"6.0.0": 50}
    started = time.monotonic()
    mesh.apply(mesh.state(virtualservices=[weighted(0, 100)]))
    while versions(conn, "podinfo.test", 1) != {"6.0.1": 1}:
        assert time.monotonic() - started < 1.0, "route change not live within 1 s"
    assert versions(conn, "podinfo.test", 50) == {"6.0.1": 50}
    mesh.apply(mesh.state(virtualservices=[weighted(3, 1)]))  # relative weights (Istio >= 1.15): 75/25
    time.sleep(0.3)
    share = versions(conn, "podinfo.test", 800)["6.0.1"] / 800
    assert 0.19 <= share <= 0.31, share
    assert mesh.rejected() == 0


def test_header_and_cookie_matches_send_everything_to_the_canary(mesh):
    spec = {"hosts": ["podinfo"], "http": [
        {"match": [{"headers": {"x-canary": {"exact": "insider"}}}, {"headers": {"cookie": {"regex": r"^(.*?;\s*)?(canary=always)(;.*)?$"}}}],
         "route": [{"destination": {"host": "podinfo-canary"}}]},
        {"route": [{"destination": {"host": "podinfo-primary"}}]}]}
    mesh.apply(mesh.state(virtualservices=[vs(spec)]))
    time.sleep(0.3)
    conn = http.client.HTTPConnection("127.0.0.1", mesh.mesh_port, timeout=5)
    assert versions(conn, "podinfo.test", 100, {"x-canary": "insider"}) == {"6.0.1": 100}
    assert versions(conn, "podinfo.test", 50, {"Cookie": "canary=always; a=b"}) == {"6.0.1": 50}
    assert versions(conn, "podinfo.test", 50, {"Cookie": "a=b; canary=always"}) == {"6.0.1": 50}
    assert versions(conn, "podinfo.test", 20, {"Cookie": "a=b; xcanary=always"}) == {"6.0.0": 20}
    assert versions(conn, "podinfo.test", 50, {"x-canary": "other"}) == {"6.0.0": 50}
    assert mesh.rejected() == 0


def test_without_headers_and_present_matches_behave_as_in_istio(mesh):
    # Istio: withoutHeaders {x-legacy: {exact: "1"}} matches every request whose x-legacy is not "1",
    # including requests without the header; regex "*" means "present".
    spec = {"hosts": ["podinfo"], "http": [
        {"match": [{"withoutHeaders": {"x-legacy": {"exact": "1"}}, "headers": {"x-beta": {"regex": "*"}}}],
         "route": [{"destination": {"host": "podinfo-canary"}}]},
        {"route": [{"destination": {"host": "podinfo-primary"}}]}]}
    mesh.apply(mesh.state(virtualservices=[vs(spec)]))
    time.sleep(0.3)
    assert mesh.rejected() == 0
    conn = http.client.HTTPConnection("127.0.0.1", mesh.mesh_port, timeout=5)
    assert versions(conn, "podinfo.test", 20, {"x-beta": "any"}) == {"6.0.1": 20}
    assert versions(conn, "podinfo.test", 20, {"x-beta": "any", "x-legacy": "2"}) == {"6.0.1": 20}
    assert versions(conn, "podinfo.test", 20, {"x-beta": "any", "x-legacy": "1"}) == {"6.0.0": 20}
    assert versions(conn, "podinfo.test", 20) == {"6.0.0": 20}


def test_mirror_fault_retry_timeout_and_gateway_config_is_accepted_and_works(mesh):
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "public-gateway", "namespace": NS},
               "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
    spec = {"hosts": ["podinfo", "app.example.com"], "gateways": ["mesh", "public-gateway"], "http": [
        {"match": [{"uri": {"prefix": "/status"}}], "fault": {"abort": {"httpStatus": 418, "percentage": {"value": 100}}},
         "route": [{"destination": {"host": "podinfo-primary"}}]},
        {"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new", "redirectCode": 302}},
        {"match": [{"uri": {"exact": "/teapot"}}], "directResponse": {"status": 503, "body": {"string": "maintenance"}}},
        {"route": [{"destination": {"host": "podinfo-primary"}, "weight": 100}, {"destination": {"host": "podinfo-canary"}, "weight": 0}],
         "mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 100.0},
         "retries": {"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx"}, "timeout": "3s",
         "headers": {"response": {"set": {"x-lab": "yes"}}}}]}
    mesh.apply(mesh.state(virtualservices=[vs(spec)], gateways=[gateway]))
    time.sleep(0.3)
    assert mesh.rejected() == 0
    before = mesh.canary.state.metrics.render().count(b"\n")
    for port, host in ((mesh.mesh_port, "podinfo.test"), (mesh.ingress_port, "app.example.com")):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        assert json.loads(response.read())["version"] == "6.0.0"
        assert response.getheader("x-lab") == "yes"
        conn.request("GET", "/status/200", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        assert response.status == 418
        conn.request("GET", "/old", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        assert response.status == 302 and response.getheader("location").endswith("/new")
        conn.request("GET", "/teapot", headers={"Host": host})
        response = conn.getresponse()
        assert (response.status, response.read()) == (503, b"maintenance")
    # The mirror delivered copies to the canary (its own metrics saw GET / requests).
    deadline = time.monotonic() + 2
    while b'path="root"' not in mesh.canary.state.metrics.render():
        assert time.monotonic() < deadline, before
        time.sleep(0.05)


def test_a_rejected_update_is_reported_and_the_last_good_routes_keep_serving(mesh):
    from tests.lab.mesh.envoy import EnvoyError

    mesh.apply(mesh.state(virtualservices=[weighted(100, 0)]))
    bad = {"hosts": ["podinfo"], "http": [{"match": [{"headers": {"x-canary": {"regex": "(unclosed"}}}],
                                           "route": [{"destination": {"host": "podinfo-canary"}}]}]}
    with pytest.raises(EnvoyError, match="rds-mesh.json"):
        mesh.apply(mesh.state(virtualservices=[vs(bad)]))
    conn = http.client.HTTPConnection("127.0.0.1", mesh.mesh_port, timeout=5)
    assert versions(conn, "podinfo.test", 20) == {"6.0.0": 20}
    # The file holds what Envoy runs, so the next good state is written and applied.
    assert mesh.apply(mesh.state(virtualservices=[weighted(0, 100)])) == ["rds_mesh"]
    time.sleep(0.2)
    assert versions(conn, "podinfo.test", 20) == {"6.0.1": 20}
