#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_compare
short_description: Judge a canary against its primary with a Mann-Whitney U test, as Kayenta does
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Samples every metric for the canary and for the primary over the same O(window) with the same O(step) (one
    Prometheus range query per side), and tests whether the canary differs from the primary - a Mann-Whitney U test at
    O(confidence) (default 98%, as Kayenta) plus an effect-size bound - instead of checking fixed thresholds.
  - Each metric is classified C(Pass), C(High), C(Low) or C(NoData). O(metrics[].direction) says which deviation fails
    it - V(increase) (latency or errors, tested one-sided for a higher canary), V(decrease) (success rate, tested one-sided for a lower canary)
    or V(either) (two-sided). A significant deviation fails only when its effect size is beyond
    O(metrics[].effect_size); by default, as in Kayenta, any significant deviation fails.
  - The score is the weighted share of passing metrics (0-100); the verdict is C(Pass) when the score reaches
    O(thresholds.pass), C(Marginal) when it reaches O(thresholds.marginal), else C(Fail). A O(metrics[].critical) metric
    that does not pass makes the verdict C(Fail) whatever the score. Every number - U, the p-value, the method, both
    effect sizes, the sample counts, means, medians and the samples themselves - is returned.
  - The test follows C(scipy.stats.mannwhitneyu(canary, primary, method="auto", use_continuity=True)) - the exact
    distribution when the smaller sample has at most 8 values and there are no ties, otherwise the normal approximation
    with tie and continuity correction - in pure Python (no SciPy needed where the module runs).
  - Builtin metrics of O(provider=istio) - C(request-success-rate) (percent of non-5xx, direction V(decrease)) and
    C(request-duration) (P99 in milliseconds, direction V(increase)) - are Flagger's queries, rendered once with C(target)
    = the canary workload O(target) and once with C(target) = the primary workload O(primary) (C(<target>-primary)).
    A custom O(metrics[].query) is rendered the same way, so write C($target) where the workload goes.
  - The module only reads. It reports the verdict; gate on RV(verdict) in the playbook. A misconfiguration - bad
    options, unreachable Prometheus, invalid PromQL, several series where one was expected - fails the task.
options:
  provider:
    description:
      - The metrics provider whose builtin comparison templates the metric names refer to. Only V(istio) has builtin
        comparison metrics; with V(envoy) give O(metrics[].query).
    type: str
    choices: [envoy, istio]
    default: istio
  target:
    description:
      - Name of the canary workload (the target Deployment). Template variable C(target) on the canary's side.
    type: str
    required: true
  primary:
    description:
      - Name of the primary workload, the baseline. Template variable C(target) on the primary's side.
      - Defaults to C(<target>-primary), the primary Deployment the collection creates.
    type: str
  namespace:
    description:
      - Namespace of both workloads. Template variable C(namespace).
    type: str
    required: true
  service:
    description:
      - Name of the target's Service. Template variable C(service); defaults to O(target).
    type: str
  window:
    description:
      - How far back both sides are sampled, a Prometheus duration such as V(5m) (usually the analysis interval or
        longer). The window ends at O(end).
    type: str
    default: 5m
  step:
    description:
      - The resolution of the range queries, the same for both sides - one sample per step, so O(window) / O(step) + 1
        samples per side (at most 1000).
    type: str
    default: 30s
  interval:
    description:
      - The range of the rate windows inside the queries (template variable C(interval)), for example V(30s). Defaults to
        O(step), so consecutive samples cover separate requests (the test assumes independent samples); keep it at least
        two scrape intervals long. A metric's O(metrics[].interval) overrides it.
    type: str
  end:
    description:
      - When the window ends, a Unix timestamp or an RFC 3339 time such as V(2026-12-01T12:00:00Z). Defaults to now.
    type: str
  variables:
    description:
      - More template variables for custom queries, the same on both sides. Values must be strings or numbers; the
        builtin variable names cannot be redefined here.
    type: dict
    default: {}
  confidence:
    description:
      - The confidence level of every test, between 0 and 1 (exclusive); a metric's O(metrics[].confidence) overrides it.
        With 0.98 a metric of identical versions fails about 2% of the time by chance alone.
    type: float
    default: 0.98
  min_samples:
    description:
      - Fewest usable samples (NaN and infinities are dropped) each side needs; with fewer the metric is C(NoData).
      - Below 5 per side no two-sided test at 98% confidence can find a difference.
    type: int
    default: 5
  thresholds:
    description:
      - The score thresholds, in percent of the metrics' weight.
    type: dict
    default: {}
    suboptions:
      pass:
        description: Lowest score of a C(Pass) verdict.
        type: float
        default: 95
      marginal:
        description: Lowest score of a C(Marginal) verdict; not above O(thresholds.pass).
        type: float
        default: 75
  on_no_data:
    description:
      - How a C(NoData) metric (a side without a series, without usable samples or with fewer than O(min_samples)) counts.
      - V(fail) counts it as not passing (a critical one fails the run); V(pass) as passing; V(skip) leaves it out of the
        score and lists it in RV(skipped_metrics). When every metric is skipped the verdict is C(Fail) without a score.
    type: str
    choices: [fail, pass, skip]
    default: fail
  metrics:
    description:
      - The metrics to compare.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the metric, unique in the list. Without O(metrics[].query) or O(metrics[].template) it names a builtin
            comparison metric of O(provider).
        type: str
        required: true
      template:
        description:
          - Name of a builtin comparison metric of O(provider) to use under another O(metrics[].name).
        type: str
      query:
        description:
          - A PromQL template that returns one series per side; C($target) is the side's workload. Placeholders and escaping
            are those of M(progressive.delivery.canary_metric_check).
        type: str
      direction:
        description:
          - The deviation that fails the metric. Defaults to the builtin's (V(decrease) for C(request-success-rate),
            V(increase) for C(request-duration)), else V(either).
        type: str
        choices: [increase, decrease, either]
      critical:
        description:
          - When this metric does not pass, the verdict is C(Fail) whatever the score.
        type: bool
        default: false
      weight:
        description:
          - The metric's share of the score, 0 or more. A metric with weight 0 is judged and reported but not counted.
        type: float
        default: 1
      confidence:
        description:
          - This metric's confidence level, overriding O(confidence).
        type: float
      interval:
        description:
          - This metric's rate window, overriding O(interval).
        type: str
      effect_size:
        description:
          - How large a significant deviation must be to fail the metric. Both effect sizes are always computed and
            returned; O(metrics[].effect_size.measure) says which one is bounded.
        type: dict
        suboptions:
          measure:
            description:
              - V(mean_ratio) - mean of the canary / mean of the primary (Kayenta's effect size).
              - V(hodges_lehmann) - the Hodges-Lehmann shift, the median of all canary - primary differences, in the
                metric's unit (robust to outliers).
            type: str
            choices: [mean_ratio, hodges_lehmann]
            default: mean_ratio
          allowed_increase:
            description:
              - For V(mean_ratio) the highest ratio that still passes (1 or more, default 1 - any significant increase
                fails; V(1.1) allows 10% higher). For V(hodges_lehmann) the largest upward shift that still passes (0 or
                more, default 0), for example V(20) for 20 ms.
            type: float
          allowed_decrease:
            description:
              - For V(mean_ratio) the lowest ratio that still passes (in (0, 1], default 1; V(0.99) allows 1% lower). For
                V(hodges_lehmann) the largest downward shift that still passes, as a positive number (default 0).
            type: float
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
    details: It never changes anything (C(changed) is always V(false)); the verdict changes as the metrics do.
seealso:
  - module: progressive.delivery.canary_metric_check
  - name: Kayenta's Mann-Whitney classifier
    description: The canary judgment this module follows.
    link: https://github.com/spinnaker/kayenta
  - name: scipy.stats.mannwhitneyu
    description: The reference implementation the unit tests check U and the p-values against.
    link: https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.mannwhitneyu.html
"""

EXAMPLES = r"""
- name: Compare the canary's latency and success rate with the primary's over the last 5 minutes
  progressive.delivery.canary_compare:
    prometheus:
      url: http://prometheus.istio-system:9090
    target: podinfo
    namespace: test
    window: 5m
    step: 30s
    metrics:
      - name: request-duration
        effect_size:
          allowed_increase: 1.1
      - name: request-success-rate
        critical: true
        effect_size:
          allowed_decrease: 0.99
  register: judgment

- name: Stop when the canary is worse than the primary
  ansible.builtin.fail:
    msg: "{{ judgment.msg }}"
  when: judgment.verdict == 'Fail'

- name: A custom query ($target is each side's workload), a Hodges-Lehmann bound of 20 ms and a stricter score
  progressive.delivery.canary_compare:
    prometheus:
      url: "{{ prometheus_url }}"
      bearer_token: "{{ prometheus_token }}"
    target: podinfo
    namespace: test
    thresholds:
      pass: 100
      marginal: 50
    metrics:
      - name: mean-latency
        query: >-
          sum(rate(istio_request_duration_milliseconds_sum{destination_workload_namespace="$namespace",destination_workload="$target"}[$interval]))
          / sum(rate(istio_request_duration_milliseconds_count{destination_workload_namespace="$namespace",destination_workload="$target"}[$interval]))
        direction: increase
        effect_size:
          measure: hodges_lehmann
          allowed_increase: 20
      - name: request-success-rate
        weight: 2
"""

RETURN = r"""
verdict:
  description: V(Pass), V(Marginal) or V(Fail).
  returned: success
  type: str
  sample: Fail
score:
  description: 100 x the weight of the passing metrics / the weight of the counted ones; V(null) when none was counted.
  returned: success
  type: float
  sample: 50.0
reason:
  description: Why the verdict, with the score and the thresholds (and the critical metrics that failed).
  returned: success
  type: str
  sample: "critical metric(s) request-duration failed; score 50 (pass >= 95, marginal >= 75)"
thresholds:
  description: The score thresholds used, C(pass) and C(marginal).
  returned: success
  type: dict
  sample: {pass: 95.0, marginal: 75.0}
on_no_data:
  description: The O(on_no_data) policy applied.
  returned: success
  type: str
  sample: fail
passed_weight:
  description: The weight of the passing metrics.
  returned: success
  type: float
  sample: 1.0
counted_weight:
  description: The weight of the counted metrics (all but the skipped ones).
  returned: success
  type: float
  sample: 2.0
failed_metrics:
  description: Names of the counted metrics that did not pass (High, Low, or NoData with O(on_no_data=fail)).
  returned: success
  type: list
  elements: str
  sample: [request-duration]
skipped_metrics:
  description: Names of the NoData metrics left out of the score (O(on_no_data=skip)).
  returned: success
  type: list
  elements: str
  sample: []
critical_failed:
  description: Names of the critical metrics that did not pass.
  returned: success
  type: list
  elements: str
  sample: [request-duration]
window:
  description: The sampled window - C(start) and C(end) (Unix timestamps), C(window) and C(step) as given.
  returned: success
  type: dict
  sample: {start: 1796126100.0, end: 1796126400.0, window: 5m, step: 30s}
canary_workload:
  description: The canary workload compared.
  returned: success
  type: str
  sample: podinfo
primary_workload:
  description: The primary workload it was compared with.
  returned: success
  type: str
  sample: podinfo-primary
metrics:
  description: One entry per metric, in the order given, with every number the classification rests on.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The metric's name.
      type: str
      sample: request-duration
    template:
      description: The builtin template used, or V(null) for a custom query.
      type: str
      sample: request-duration
    queries:
      description: The queries exactly as sent, C(canary) and C(primary).
      type: dict
    interval:
      description: The rate window used in the queries.
      type: str
      sample: 30s
    classification:
      description: V(Pass), V(High) (the canary is significantly and too much higher), V(Low) or V(NoData).
      type: str
      sample: High
    reason:
      description: Why, with the p-value, the test and the effect size against its bound.
      type: str
      sample: "the canary is significantly higher than the primary: p = 3.1e-05 < alpha 0.02 (greater test, U = 121); mean ratio 1.3, allowed up to 1"
    message:
      description: One line with the medians of both sides, the classification and the reason.
      type: str
    direction:
      description: The deviation that fails the metric.
      type: str
      sample: increase
    alternative:
      description: The test's alternative hypothesis - V(greater), V(less) or V(two-sided).
      type: str
      sample: greater
    confidence:
      description: The confidence level used.
      type: float
      sample: 0.98
    alpha:
      description: 1 - confidence; a p-value below it is significant.
      type: float
      sample: 0.02
    u:
      description: The Mann-Whitney U statistic of the canary sample (SciPy's C(statistic)); V(null) for NoData.
      type: float
      sample: 121.0
    p_value:
      description: The p-value of the test; V(null) for NoData.
      type: float
      sample: 3.1e-05
    method:
      description: V(exact) or V(asymptotic) (normal approximation with tie and continuity correction).
      type: str
      sample: asymptotic
    significant:
      description: Whether the p-value is below alpha.
      type: bool
    deviation:
      description: The direction of a significant deviation, V(increase) or V(decrease); V(null) otherwise.
      type: str
    mean_ratio:
      description: Mean of the canary / mean of the primary; V(null) when the primary's mean is 0 and the canary's is not.
      type: float
      sample: 1.3
    hodges_lehmann_shift:
      description: The Hodges-Lehmann estimate of the canary's shift over the primary, in the metric's unit.
      type: float
      sample: 30.0
    effect_size:
      description: The effect-size bound applied, C(measure), C(allowed_increase) and C(allowed_decrease).
      type: dict
    effect_exceeded:
      description: Whether a significant deviation is beyond the bound; V(null) when not significant.
      type: bool
    critical:
      description: Whether the metric is critical.
      type: bool
    weight:
      description: The metric's weight.
      type: float
    canary:
      description:
        - The canary's samples - C(samples) (usable), C(dropped) (NaN, infinities), C(series) (whether the query returned
          a series), C(mean), C(median) and C(values) (every sample value in time order, V(null) without a series).
      type: dict
    primary:
      description: The primary's samples, as RV(metrics[].canary).
      type: dict
error_kind:
  description:
    - When Prometheus could not be queried, what went wrong - V(config), V(connection), V(tls), V(auth), V(api) or V(response).
  returned: on such a failure
  type: str
  sample: connection
msg:
  description: A one-line summary with the verdict and the metrics that did not pass.
  returned: always
  type: str
  sample: "canary versus primary: Fail, score 50 (pass >= 95, marginal >= 75); request duration canary 235.00ms vs primary 95.00ms (medians): High - ..."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, compare, sampling
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient, PrometheusError


def argspec():
    return dict(
        checks.measured_argument_spec(),
        primary=dict(type="str"),
        window=dict(type="str", default="5m"),
        step=dict(type="str", default="30s"),
        interval=dict(type="str"),
        end=dict(type="str"),
        confidence=dict(type="float", default=compare.DEFAULT_CONFIDENCE),
        min_samples=dict(type="int", default=compare.DEFAULT_MIN_SAMPLES),
        thresholds=dict(type="dict", default={}, options=dict(
            # "pass" is a Python keyword but a fine option name; it is a score, not a password.
            **{"pass": dict(type="float", default=compare.DEFAULT_PASS_SCORE, no_log=False),
               "marginal": dict(type="float", default=compare.DEFAULT_MARGINAL_SCORE)})),
        on_no_data=dict(type="str", choices=list(compare.ON_NO_DATA_CHOICES), default="fail"),
        metrics=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            template=dict(type="str"),
            query=dict(type="str"),
            direction=dict(type="str", choices=list(compare.DIRECTIONS)),
            critical=dict(type="bool", default=False),
            weight=dict(type="float", default=1.0),
            confidence=dict(type="float"),
            interval=dict(type="str"),
            effect_size=dict(type="dict", options=dict(
                measure=dict(type="str", choices=list(compare.EFFECT_MEASURES), default="mean_ratio"),
                allowed_increase=dict(type="float"),
                allowed_decrease=dict(type="float"),
            )),
        ), mutually_exclusive=[("template", "query")]),
    )


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    try:
        comparison = sampling.build_comparison(module.params)
        client = PrometheusClient.from_options(module.params["prometheus"])
    except compare.CompareConfigError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except PrometheusError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind=exc.kind)
    try:
        report = sampling.run_comparison(client, comparison)
    except PrometheusError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind=exc.kind)
    except sampling.CompareError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind="api")
    except compare.CompareConfigError as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=False, msg=sampling.summary(report), **report)


if __name__ == "__main__":
    main()
