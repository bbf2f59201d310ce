"""The lookup and both modules through a real ansible-playbook run, against a real Prometheus and hey.

What only a playbook shows: Flagger-style ``{{ namespace }}`` templates survive Jinja when marked
``!unsafe`` (and ``$namespace`` needs nothing), a breach is reported without failing the task,
PROMETHEUS_URL is honoured, check mode runs the queries, and hey runs in the background with
``async`` / ``poll: 0`` while the analysis runs, collected with ``async_status``.
"""

import pytest

from tests.analysis.conftest import AppServer, run_playbook

pytestmark = pytest.mark.prometheus

ISTIO = {"reporter": "destination", "destination_workload_namespace": "test"}

PLAYBOOK = r"""
- name: Analysis from a playbook
  hosts: localhost
  gather_facts: false
  vars:
    # A play variable called like a template variable: if Jinja rendered the templates, the
    # queries would ask for namespace "wrong" and find no data.
    namespace: wrong
    prom: {url: "PROM_URL"}
  tasks:
    - name: Flagger-style template kept from Jinja with !unsafe
      progressive.delivery.canary_metric_check:
        prometheus: "{{ prom }}"
        target: podinfo
        namespace: test
        interval: 10s
        metrics:
          - name: success
            query: !unsafe >-
              sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}]))
              / sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100
            threshold_range: {min: 75}

    - name: Our placeholders need nothing
      progressive.delivery.canary_metric_check:
        prometheus: "{{ prom }}"
        target: podinfo
        namespace: test
        interval: 10s
        variables: {reporter: destination}
        metrics:
          - name: success
            query: >-
              sum(rate(istio_requests_total{reporter="$reporter",destination_workload_namespace="$namespace",destination_workload=~"${target}",response_code!~"5.*"}[$interval]))
              / sum(rate(istio_requests_total{destination_workload_namespace="$namespace",destination_workload=~"$target"}[$interval])) * 100
            threshold_range: {min: 75}

    - name: A breach is reported, not raised
      progressive.delivery.canary_metric_check:
        prometheus: "{{ prom }}"
        target: podinfo
        namespace: test
        interval: 10s
        metrics:
          - name: request-success-rate
            threshold_range: {min: 99}
      register: breach

    - name: The breach fails the task with fail_on_breach
      progressive.delivery.canary_metric_check:
        prometheus: "{{ prom }}"
        target: podinfo
        namespace: test
        interval: 10s
        fail_on_breach: true
        metrics:
          - name: request-success-rate
            threshold_range: {min: 99}
      ignore_errors: true

    - name: URL from PROMETHEUS_URL, in check mode
      progressive.delivery.canary_metric_check:
        target: podinfo
        namespace: test
        interval: 10s
        metrics:
          - name: request-success-rate
      check_mode: true
      environment:
        PROMETHEUS_URL: "PROM_URL"

    - name: Lookup a value and the raw samples
      ansible.builtin.set_fact:
        rate: "{{ lookup('progressive.delivery.prometheus', query, url=prom.url) }}"
        raw: "{{ lookup('progressive.delivery.prometheus', 'sum by (response_code) (' ~ counts ~ ')', url=prom.url, raw=true) }}"
        missing: "{{ lookup('progressive.delivery.prometheus', 'absent_metric_xyz', url=prom.url, on_no_data='none') }}"
        escaped: "{{ lookup('progressive.delivery.prometheus', query_tpl, url=prom.url, template_variables={'ns': 'test', 'w': namespace}, on_no_data='none') }}"
      vars:
        counts: rate(istio_requests_total{destination_workload="podinfo"}[10s])
        query: sum(rate(istio_requests_total{destination_workload="podinfo",response_code!~"5.*"}[10s])) / sum({{ counts }}) * 100
        query_tpl: sum(rate(istio_requests_total{destination_workload_namespace="$ns",destination_workload="$w"}[10s]))

    - name: Lookup errors are clear
      ansible.builtin.debug:
        msg: "{{ lookup('progressive.delivery.prometheus', 'sum(rate(x[1m])', url=prom.url) }}"
      ignore_errors: true

    - name: Start load in the background
      progressive.delivery.canary_load:
        url: "APP_URL"
        duration: 2s
        qps: 10
        concurrency: 2
      async: 60
      poll: 0
      register: load_job

    - name: Analysis while the load runs
      progressive.delivery.canary_metric_check:
        prometheus: "{{ prom }}"
        target: podinfo
        namespace: test
        interval: 10s
        metrics:
          - name: request-duration
            threshold_range: {max: 500}

    - name: Collect the load result
      ansible.builtin.async_status:
        jid: "{{ load_job.ansible_job_id }}"
      register: load
      until: load.finished
      retries: 30
      delay: 1
"""


@pytest.fixture(scope="module")
def prom(exporter, start_prometheus):
    for code, rate in (("200", 8), ("500", 2)):
        exporter.counter("istio_requests_total", dict(ISTIO, destination_workload="podinfo", response_code=code), rate)
    exporter.histogram("istio_request_duration_milliseconds", dict(ISTIO, destination_workload="podinfo"),
                       [("25", 0), ("50", 9), ("100", 10), ("+Inf", 10)])
    server = start_prometheus(exporter)
    server.wait_for(lambda r: bool(r) and r[0]["value"][1] != "NaN",
                    'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket[10s])) by (le))', timeout=20)
    return server


def test_playbook(tmp_path, prom):
    app = AppServer()
    try:
        rc, results, _doc = run_playbook(tmp_path, PLAYBOOK.replace("PROM_URL", prom.url).replace("APP_URL", app.url))
    finally:
        app.stop()

    for name in ("Flagger-style template kept from Jinja with !unsafe", "Our placeholders need nothing"):
        metric = results[name]["metrics"][0]
        assert metric["value"] == pytest.approx(80.0, abs=1e-6), (name, metric)
        assert 'destination_workload_namespace="test"' in metric["query"] and "wrong" not in metric["query"]
        assert metric["status"] == "pass" and results[name]["passed"] is True

    breach = results["A breach is reported, not raised"]
    assert breach.get("failed") is not True and breach["passed"] is False
    assert breach["failed_metrics"] == ["request-success-rate"]
    assert breach["metrics"][0]["message"] == "request success rate 80.00% < 99%"

    raised = results["The breach fails the task with fail_on_breach"]
    assert raised["failed"] is True and raised["msg"] == "metric checks failed: request success rate 80.00% < 99%"

    checked = results["URL from PROMETHEUS_URL, in check mode"]
    assert checked.get("failed") is not True, checked
    assert checked["metrics"][0]["value"] == pytest.approx(80.0, abs=1e-6) and checked["changed"] is False

    assert "ansible_facts" in results["Lookup a value and the raw samples"], results["Lookup a value and the raw samples"].get("msg")
    facts = results["Lookup a value and the raw samples"]["ansible_facts"]
    assert facts["rate"] == pytest.approx(80.0, abs=1e-6)
    assert sorted(s["metric"]["response_code"] for s in facts["raw"]) == ["200", "500"]
    assert facts["missing"] is None
    assert facts["escaped"] is None     # $w is the play's "wrong", escaped and sent as a value: no such workload

    lookup_error = results["Lookup errors are clear"]
    assert lookup_error["failed"] is True and "bad_data" in lookup_error["msg"] and "parse error" in lookup_error["msg"]

    assert results["Analysis while the load runs"]["metrics"][0]["value"] == pytest.approx(95.0, abs=1e-6)
    load = results["Collect the load result"]
    assert load["finished"] and load.get("failed") is not True, load
    assert 30 <= load["requests"] <= 44 and load["status_codes"]["500"] >= 6
    assert load["success_rate"] == pytest.approx(100.0 * load["status_codes"]["200"] / load["requests"])
    assert rc == 0, "only the tasks with ignore_errors may fail"
