#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_metric_check
short_description: Check a canary's metrics in Prometheus against threshold ranges, as Flagger's analysis does
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Runs one round of metric checks for a canary - each metric is a PromQL query whose single value must lie within
    its threshold range - and reports every value, the query as sent, and a reason in Flagger's words such as
    C(request success rate 69.17% < 99%).
  - Builtin metrics per O(provider) - V(istio) C(request-success-rate) (percent of non-5xx requests) and
    C(request-duration) (P99 in milliseconds) are Flagger's queries on Istio's standard telemetry; V(envoy) has the
    same two on Envoy's cluster statistics (C(envoy_cluster_upstream_rq_xx), C(envoy_cluster_upstream_rq_time_bucket))
    selected by C(envoy_cluster_name) (the variable C(cluster), by default O(target)).
  - Custom queries are templates with the variables C(name), C(namespace), C(target), C(service), C(interval) and those
    in O(variables). Write placeholders as C($namespace) or C(${namespace}), which Jinja leaves alone, or in Flagger's
    form C({{ namespace }}) - then mark the string C(!unsafe) in the playbook (or wrap it in C({% raw %})), otherwise
    Ansible renders it first. C($$) is a literal C($); C($1) is not a placeholder.
  - Every value is escaped for its place in the query - inside quotes it cannot end the string, inside a regex
    matcher (C(=~)) it matches literally, and outside quotes only a number, a duration or a name is accepted - so no
    value can change the query's meaning.
  - An empty result or NaN is "no data" (usually the canary gets no traffic); O(on_no_data) says whether that fails
    (as in Flagger), passes or is skipped. A query that returns several series where one value is expected is an
    error that lists their labels (Flagger silently takes the last one).
  - A threshold breach is reported in RV(passed) and RV(failed_metrics), not raised, unless O(fail_on_breach=true).
    A misconfiguration - unreachable Prometheus, TLS or authentication failure, invalid PromQL, an ambiguous
    result - always fails the task, with the metric results gathered so far.
options:
  provider:
    description:
      - The metrics provider whose builtin templates the metric names refer to.
    type: str
    choices: [envoy, istio]
    default: istio
  target:
    description:
      - Name of the canary workload to measure (the target Deployment, as Flagger measures it). Template variable C(target).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the target. Template variable C(namespace).
    type: str
    required: true
  service:
    description:
      - Name of the target's Service. Template variable C(service); defaults to O(target).
    type: str
  interval:
    description:
      - The range of the rate windows, a Prometheus duration such as V(30s), V(1m) or V(1h30m). Template variable
        C(interval); a metric's own O(metrics[].interval) overrides it.
    type: str
    default: 1m
  variables:
    description:
      - More template variables for custom queries, as Flagger's C(templateVariables). Values must be strings or
        numbers. The builtin variable names cannot be redefined here.
      - For O(provider=envoy), C(cluster) is the Envoy cluster that serves the canary (default O(target)), for
        example V(outbound|9898||podinfo-canary.test.svc.cluster.local) for an Istio sidecar.
    type: dict
    default: {}
  metrics:
    description:
      - The metrics to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the metric, unique in the list. When neither O(metrics[].query) nor O(metrics[].template) is given it
            names a builtin metric of O(provider).
        type: str
        required: true
      template:
        description:
          - Name of a builtin metric of O(provider) to use under another O(metrics[].name).
        type: str
      query:
        description:
          - A PromQL template that returns one number (a scalar or a one-series vector). See the description for the
            placeholder syntax and escaping.
        type: str
      threshold_range:
        description:
          - The range the value must lie in. Both bounds are inclusive and either may be left out; with neither, the
            value is only reported.
        type: dict
        suboptions:
          min:
            description: Lowest passing value.
            type: float
          max:
            description: Highest passing value.
            type: float
      interval:
        description:
          - This metric's C(interval), overriding O(interval).
        type: str
  on_no_data:
    description:
      - What an empty result or NaN means.
      - V(fail) (Flagger's behaviour) counts the metric as failed; V(pass) counts it as passed; V(skip) leaves it out of
        the verdict and lists it in RV(skipped_metrics).
      - In every case the metric's status is C(no_data) and its message says so.
    type: str
    choices: [fail, pass, skip]
    default: fail
  fail_on_breach:
    description:
      - Fail the task when a metric fails its check. By default a breach is only reported in RV(passed) and RV(failed_metrics),
        so a rollout can count failed checks the way Flagger's threshold does.
    type: bool
    default: false
  online_check:
    description:
      - First check that Prometheus answers Flagger's C(vector(1)) query, and fail (RV(online=false)) when it does not,
        before any metric is queried. With an empty O(metrics) only this check runs.
      - A rollout runs it before any traffic moves to the canary, so a metrics server that is down never lets traffic reach
        an unanalysed canary.
    type: bool
    default: false
extends_documentation_fragment:
  - progressive.delivery.prometheus.module
  - progressive.delivery.attributes
attributes:
  check_mode:
    support: full
    details: The module only reads from Prometheus, so it runs the same queries in check mode.
  diff_mode:
    support: none
    details: Nothing is changed, so there is no diff.
  idempotent:
    support: full
    details: It never changes anything (C(changed) is always V(false)); values differ between runs as the metrics do.
seealso:
  - plugin: progressive.delivery.prometheus
    plugin_type: lookup
  - module: progressive.delivery.canary_load
  - name: Flagger metrics analysis
    description: The metric checks this module reproduces.
    link: https://docs.flagger.app/usage/metrics
"""

EXAMPLES = r"""
- name: Check the canary's success rate and latency (Flagger's builtin Istio metrics)
  progressive.delivery.canary_metric_check:
    prometheus:
      url: http://prometheus.istio-system:9090
    target: podinfo
    namespace: test
    interval: 1m
    metrics:
      - name: request-success-rate
        threshold_range:
          min: 99
      - name: request-duration
        threshold_range:
          max: 500
  register: analysis

- name: Stop when a check failed
  ansible.builtin.fail:
    msg: "{{ analysis.metrics | selectattr('status', 'ne', 'pass') | map(attribute='message') | join('; ') }}"
  when: not analysis.passed

- name: A custom query with placeholders that Jinja leaves alone
  progressive.delivery.canary_metric_check:
    prometheus:
      url: "{{ prometheus_url }}"
      bearer_token: "{{ prometheus_token }}"
    target: podinfo
    namespace: test
    variables:
      route: /api/info
    metrics:
      - name: error-rate
        query: >-
          100 * sum(rate(http_requests_total{namespace="$namespace",pod=~"$target-[0-9a-z]+-[0-9a-z]+",path="$route",status=~"5.."}[$interval]))
          / sum(rate(http_requests_total{namespace="$namespace",pod=~"$target-[0-9a-z]+-[0-9a-z]+",path="$route"}[$interval]))
        threshold_range:
          max: 1
    on_no_data: skip

- name: A Flagger MetricTemplate query pasted unchanged, kept from Jinja with !unsafe
  progressive.delivery.canary_metric_check:
    target: podinfo
    namespace: test
    metrics:
      - name: not-found-percentage
        query: !unsafe >-
          100 - sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",
          destination_workload="{{ target }}",response_code!="404"}[{{ interval }}]))
          / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",
          destination_workload="{{ target }}"}[{{ interval }}])) * 100
        threshold_range:
          max: 5
        interval: 1m
  environment:
    PROMETHEUS_URL: http://prometheus.istio-system:9090

- name: Envoy cluster statistics, failing the task on a breach
  progressive.delivery.canary_metric_check:
    prometheus:
      url: https://prometheus.example.com
      ca_path: /etc/ssl/prometheus-ca.pem
    provider: envoy
    target: podinfo
    namespace: test
    variables:
      cluster: outbound|9898||podinfo-canary.test.svc.cluster.local
    metrics:
      - name: request-success-rate
        threshold_range:
          min: 99
    fail_on_breach: true
"""

RETURN = r"""
passed:
  description: Whether every counted metric passed its check (see O(on_no_data)).
  returned: always
  type: bool
  sample: false
failed_metrics:
  description: Names of the metrics that failed - a breach, an error, or no data with O(on_no_data=fail).
  returned: always
  type: list
  elements: str
  sample: [request-success-rate]
skipped_metrics:
  description: Names of the metrics without data that were left out of the verdict (O(on_no_data=skip)).
  returned: always
  type: list
  elements: str
  sample: []
error_metrics:
  description: Names of the metrics whose query could not be evaluated (they are in RV(failed_metrics) too).
  returned: always
  type: list
  elements: str
  sample: []
metrics:
  description: One entry per metric, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The metric's name.
      type: str
      sample: request-success-rate
    template:
      description: The builtin template used, or V(null) for a custom query.
      type: str
      sample: request-success-rate
    query:
      description: The query exactly as sent to Prometheus (after rendering and escaping).
      type: str
      sample: >-
        sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo",
        response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",
        destination_workload=~"podinfo"}[1m])) * 100
    interval:
      description: The interval used for this metric.
      type: str
      sample: 1m
    value:
      description: The value returned, or V(null) when there was no data or an error.
      type: float
      sample: 69.17
    threshold_range:
      description: The threshold range checked, C(min) and C(max) (V(null) when not set).
      type: dict
      sample: {min: 99.0, max: null}
    status:
      description: V(pass), V(fail) (outside the range), V(no_data) (empty result or NaN) or V(error).
      type: str
      sample: fail
    message:
      description: Why, in Flagger's words.
      type: str
      sample: request success rate 69.17% < 99%
error_kind:
  description:
    - When Prometheus could not be queried at all, what went wrong - V(config), V(connection) (refused, DNS, timeout),
      V(tls), V(auth) (401 or 403), V(api) (an HTTP or Prometheus error) or V(response) (not a Prometheus answer).
  returned: on such a failure
  type: str
  sample: connection
online:
  description: With O(online_check=true), whether Prometheus answered C(vector(1)); null otherwise.
  returned: always
  type: bool
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "metric checks failed: request success rate 69.17% < 99%"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient, PrometheusError


def argspec():
    return dict(
        checks.measured_argument_spec(),
        interval=dict(type="str", default="1m"),
        metrics=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            template=dict(type="str"),
            query=dict(type="str"),
            threshold_range=dict(type="dict", options=dict(min=dict(type="float"), max=dict(type="float"))),
            interval=dict(type="str"),
        ), mutually_exclusive=[("template", "query")]),
        on_no_data=dict(type="str", choices=list(checks.ON_NO_DATA_CHOICES), default="fail"),
        fail_on_breach=dict(type="bool", default=False),
        online_check=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    try:
        variables = checks.template_variables(params["provider"], params["target"], params["namespace"], params["interval"],
                                              service=params["service"], variables=params["variables"])
        metric_checks = []
        if params["metrics"] or not params["online_check"]:
            metric_checks = checks.build_checks(params["provider"], params["metrics"], params["interval"])
        client = PrometheusClient.from_options(params["prometheus"])
    except (checks.CheckConfigError, PrometheusError) as exc:
        module.fail_json(msg=str(exc), changed=False)

    if params["online_check"]:
        try:
            client.check_online()
        except PrometheusError as exc:
            module.fail_json(msg="the metrics server does not answer Flagger's vector(1) check: %s" % exc, changed=False,
                             error_kind=exc.kind, online=False)
        if not metric_checks:
            module.exit_json(changed=False, online=True, passed=True, metrics=[], failed_metrics=[], skipped_metrics=[],
                             error_metrics=[], msg="Prometheus answers vector(1)")

    try:
        report = checks.run_checks(client, metric_checks, variables, params["on_no_data"], provider=params["provider"])
    except PrometheusError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind=exc.kind)

    result = dict(changed=False, msg=checks.summary(report), online=True if params["online_check"] else None, **report)
    if report["error_metrics"]:
        errors = [m["message"] for m in report["metrics"] if m["status"] == checks.STATUS_ERROR]
        result["msg"] = "metric queries could not be evaluated: %s" % "; ".join(errors)
        module.fail_json(**result)
    if params["fail_on_breach"] and not report["passed"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
