"""The kind scenario, checked statically (no Docker here): its analysis must work against Istio's
Prometheus addon (a 15 s scrape), on a node image Istio's pinned release supports."""

import os
import re

import yaml

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, schedule, settings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIND = os.path.join(REPO, "molecule", "kind")


def kind_vars():
    with open(os.path.join(KIND, "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)


def test_every_metric_window_holds_two_scrapes_of_istios_prometheus():
    variables = kind_vars()
    analysis = variables["rollout_analysis"]
    validated = settings.validate({"target": variables["rollout_target"], "namespace": variables["rollout_namespace"],
                                   "analysis": dict(analysis, provider="istio", on_no_data="fail"),
                                   "prometheus": {"url": "http://127.0.0.1:19090"}, "load": {}})
    scrape = variables["kind_scrape_interval_seconds"]
    assert scrape == 15  # samples/addons/prometheus.yaml of Istio 1.24: scrape_interval 15s
    built = checks.build_checks("istio", validated["metrics"], analysis["interval"])
    assert built, "the scenario has no metrics"
    for check in built:
        window = schedule.duration_seconds(check.interval, check.name)
        assert window >= 2 * scrape, "%s queries a %s window: rate() over fewer than two %d s scrapes reads no data" % (
            check.name, check.interval, scrape)


def test_the_node_image_is_pinned_to_a_kubernetes_istio_supports():
    variables = kind_vars()
    minor = int(re.match(r"^kindest/node:v1\.(\d+)\.\d+$", variables["kind_node_image"]).group(1))
    istio_minor = int(variables["kind_istio_version"].split(".")[1])
    assert istio_minor == 24 and 28 <= minor <= 31  # Istio 1.24's support matrix: Kubernetes 1.28 - 1.31
    with open(os.path.join(KIND, "create.yml")) as handle:
        create = handle.read()
    assert "--image {{ kind_node_image }}" in create
    assert "linux-amd64.tar.gz" not in create and "uname -m" in create
