"""tests/lab/prometheus.py itself: start, readiness, reload, bad config, stop (the sample wait is
exercised by every fixture that uses it)."""

import socket

import pytest

from tests.lab.prometheus import Prometheus, PrometheusError

from tests.analysis.conftest import prometheus_config

pytestmark = pytest.mark.prometheus


def nothing_listens(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_start_reload_stop(tmp_path):
    prom = Prometheus(tmp_path / "p", prometheus_config(["127.0.0.1:1"]), rule_files={"rules.yml": "groups: []\n"})
    with prom:
        assert prom.running and prom.url.startswith("http://127.0.0.1:")
        assert prom.query("vector(1)")[0]["value"][1] == "1"
        rules = "groups:\n- name: g\n  rules:\n  - record: answer\n    expr: vector(42)\n"
        prom.reload(prom.config_text.replace("scrape_configs:", "rule_files: [rules.yml]\nscrape_configs:"), {"rules.yml": rules})
        assert prom.wait_for(bool, "answer", timeout=10)[0]["value"][1] == "42"
        port, process = prom.port, prom.process
    assert process.poll() is not None and not prom.running
    assert nothing_listens(port)


def test_fresh_data_directory_on_every_start(tmp_path):
    prom = Prometheus(tmp_path, prometheus_config(["127.0.0.1:1"]))
    with prom:
        first = prom.data_dir
    with prom:
        assert prom.data_dir != first


def test_bad_config_is_reported_with_promtool_output(tmp_path):
    prom = Prometheus(tmp_path, "global:\n  scrape_interval: often\n")
    with pytest.raises(PrometheusError, match="invalid Prometheus config"):
        prom.start()
    assert not prom.running


def test_bad_reload_keeps_the_server(tmp_path):
    with Prometheus(tmp_path, prometheus_config(["127.0.0.1:1"])) as prom:
        with pytest.raises(PrometheusError):
            prom.reload("scrape_configs: nonsense\n")
        assert prom.query("vector(2)")[0]["value"][1] == "2"
