"""The metric window against Prometheus' scrape interval (a window under two scrapes reads as no data)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import window

# /api/v1/status/config's data.yaml as Prometheus writes it
CONFIG = """global:
  scrape_interval: 15s
  scrape_timeout: 10s
  evaluation_interval: 15s
  external_labels:
    scrape_interval: ignored
alerting:
  alertmanagers:
  - follow_redirects: true
    scheme: http
    timeout: 10s
scrape_configs:
- job_name: prometheus
  honor_timestamps: true
  scrape_interval: 15s
  scrape_timeout: 10s
  metrics_path: /metrics
  static_configs:
  - targets:
    - localhost:9090
- job_name: envoy-stats
  scrape_interval: 1m
  metrics_path: /stats/prometheus
  kubernetes_sd_configs:
  - role: pod
    follow_redirects: true
- job_name: "kubernetes-pods"
  metrics_path: /metrics
  relabel_configs:
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    separator: ;
    regex: "true"
"""


def test_the_job_scrape_intervals_are_read_from_the_configuration():
    assert window.scrape_intervals(CONFIG) == {"global": 15.0, "jobs": {"prometheus": 15.0, "envoy-stats": 60.0, "kubernetes-pods": 15.0}}


def test_the_json_answer_of_the_api_is_taken_as_well():
    assert window.scrape_intervals({"status": "success", "data": {"yaml": CONFIG}})["jobs"]["envoy-stats"] == 60.0


def test_without_a_global_interval_prometheus_default_applies():
    assert window.scrape_intervals("scrape_configs:\n- job_name: a\n  scrape_interval: 5s\n- job_name: b\n") == {
        "global": 60.0, "jobs": {"a": 5.0, "b": 60.0}}
    assert window.scrape_intervals("") == {"global": 60.0, "jobs": {}}


def test_which_interval_applies():
    intervals = window.scrape_intervals(CONFIG)
    assert window.scrape_interval_for(intervals) == 15.0
    assert window.scrape_interval_for(intervals, "envoy-stats") == 60.0
    with pytest.raises(window.MetricWindowError, match="Prometheus has no scrape job 'istio' \\(jobs: envoy-stats, kubernetes-pods, prometheus\\)"):
        window.scrape_interval_for(intervals, "istio")


def test_a_bad_configuration_is_refused():
    with pytest.raises(window.MetricWindowError, match="YAML text of /api/v1/status/config"):
        window.scrape_intervals({"yaml": CONFIG})
    with pytest.raises(window.MetricWindowError, match="global.scrape_interval \\(line 2\\) must be a duration"):
        window.scrape_intervals("global:\n  scrape_interval: often\n")


@pytest.mark.parametrize("window_, scrape", [(30, 15), ("1m", "15s"), (60, 30), ("2m", 60), (120.0, "1m")])
def test_a_window_of_two_scrapes_or_more_passes(window_, scrape):
    result = window.check_metric_window(window_, scrape)
    assert result["minimum_seconds"] == 2 * result["scrape_interval_seconds"]


def test_a_window_under_two_scrapes_is_an_error_naming_both_numbers():
    with pytest.raises(window.MetricWindowError) as caught:
        window.check_metric_window("30s", "30s")
    assert str(caught.value).startswith("rollout_analysis.interval is 30s, shorter than two scrape intervals of Prometheus "
                                        "(scrape_interval 30s)")
    assert "set rollout_analysis.interval to at least 60s, or scrape more often" in str(caught.value)
    with pytest.raises(window.MetricWindowError, match=r"rollout_analysis.metrics\[0\].interval is 60s, .*scrape_interval 60s of job envoy-stats"):
        window.check_metric_window(60, 60, name="rollout_analysis.metrics[0].interval", job="envoy-stats")
    with pytest.raises(window.MetricWindowError, match="is 0.5s"):
        window.check_metric_window("500ms", 15)


@pytest.mark.parametrize("window_, scrape, words", [
    ("soon", 15, "rollout_analysis.interval must be a duration"),
    (30, 0, "scrape_interval must be positive"),
    (True, 15, "must be a number of seconds or a duration"),
])
def test_bad_numbers_are_refused(window_, scrape, words):
    with pytest.raises(window.MetricWindowError, match=words):
        window.check_metric_window(window_, scrape)
