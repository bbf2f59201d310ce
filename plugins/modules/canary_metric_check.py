#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_metric_check
short_description: Check a canary's metrics (Prometheus, a JSON endpoint, SkyWalking) against threshold ranges, as Flagger's analysis does
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Runs one round of metric checks for a canary - each metric is a query whose single value must lie within
    its threshold range - and reports every value, the query as sent, and a reason in Flagger's words such as
    C(request success rate 69.17% < 99%).
  - Each metric is asked of its metrics source - by default Prometheus (a PromQL query, O(prometheus)); a metric with
    O(metrics[].web) asks any HTTP endpoint that answers JSON and reduces the answer with a JMESPath expression (Argo
    Rollouts' C(web) provider); a metric with O(metrics[].skywalking) sends a GraphQL query to a SkyWalking OAP server
    (Argo Rollouts' C(skywalking) provider). The source is not the O(provider) - that is the mesh whose builtin Prometheus
    queries the metric names refer to.
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
requirements:
  - jmespath (for O(metrics[].web))
  - kubernetes (for O(metrics[].template_ref) with O(metric_template_configmaps) or a template's C(provider.secret_ref))
notes:
  - The Kubernetes connection options (O(kubeconfig), O(context), ...) are used only to read the ConfigMaps of
    O(metric_template_configmaps) and the Secrets of the templates' C(provider.secret_ref); the module is in the action group
    C(progressive.delivery.cluster).
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
      template_ref:
        description:
          - Take the metric's source and query from a metric template, as Flagger's C(templateRef) of a C(MetricTemplate)
            (Argo Rollouts' C(templateName) of an C(AnalysisTemplate)). The template is one of O(metric_templates) or of the
            ConfigMaps in O(metric_template_configmaps) (the collection's C(docs/metric-templates.md)).
          - Not with O(metrics[].query), O(metrics[].template), O(metrics[].web) or O(metrics[].skywalking) - the template
            defines the metric's one source.
        type: dict
        suboptions:
          name:
            description: The template's name.
            type: str
            required: true
          namespace:
            description:
              - The namespace of the ConfigMap that defines it. Without it, a template of O(metric_templates) of that name,
                else one from a ConfigMap in O(namespace) (Flagger's default).
            type: str
      template_variables:
        description:
          - Values of the template's variables (Flagger's C(templateVariables), Argo's C(args)), over the template's defaults.
            A variable the template does not declare, or a required one (default null) left out, is an error naming it.
          - Strings or numbers; in the query they are placeholders like the builtin ones (C($service_name),
            C({{ variables.service_name }})) and escaped for their place.
        type: dict
      web:
        description:
          - Ask an HTTP endpoint that answers JSON instead of Prometheus, as Argo Rollouts' C(web) metric provider. Not with
            O(metrics[].query), O(metrics[].template) or O(metrics[].skywalking).
          - The answer must be HTTP 2xx with a JSON body; O(metrics[].web.json_path) reduces it to one number. 401 and 403
            fail the task (RV(error_kind=auth)), any other status is the metric's error with the start of the body, a body
            that is not JSON fails the task (RV(error_kind=response)), no answer within O(metrics[].web.timeout) fails it
            (RV(error_kind=connection)).
        type: dict
        suboptions:
          url:
            description:
              - The endpoint, with the same template variables as the queries (C($target), C(${namespace}),
                C({{ interval }}), ...); every value is percent-encoded, so it cannot add a path segment or a parameter.
            type: str
            required: true
          method:
            description: The HTTP method.
            type: str
            choices: [GET, POST, PUT]
            default: GET
          headers:
            description:
              - Request headers, for example C(Authorization). The values are secrets - never shown in results or logs.
            type: dict
            default: {}
          body:
            description:
              - The body of a V(POST) or V(PUT), sent with C(Content-Type) V(application/json) unless O(metrics[].web.headers)
                sets another one. A dictionary or list is sent as JSON with the template variables substituted in its strings;
                a string is sent as it is, with every value JSON-escaped inside its C("...") string (outside quotes only
                a number or a name is accepted).
            type: raw
          timeout:
            description: Seconds to wait for the answer.
            type: float
            default: 10.0
          json_path:
            description:
              - A JMESPath expression (U(https://jmespath.org)) that reduces the JSON answer to one number, for example
                V(data.errorRate), V(data.result[0].value[1]) or V(avg(items[*].latency)). Without it the whole answer must
                be the number.
              - A number given as a string (V("99.5")) and a one-element list count as that number. Nothing (null, an empty
                list) or NaN is no data (O(on_no_data)); several values, an object, a boolean or text is the metric's error,
                naming the expression.
            type: str
          validate_certs:
            description: Verify the server's TLS certificate.
            type: bool
            default: true
      skywalking:
        description:
          - Ask a SkyWalking OAP server (GraphQL) instead of Prometheus, as Argo Rollouts' C(skywalking) metric provider.
            Not with O(metrics[].query), O(metrics[].template) or O(metrics[].web).
          - The query gets the GraphQL variable C($duration) - C(start) and C(end) as C(yyyy-MM-dd HHmm) in UTC, C(step)
            V(MINUTE) - covering O(metrics[].skywalking.interval) up to now.
          - The query selects one field, a C(readMetricsValues) (select C(values { values { value isEmptyValue } })), a
            one-label C(readLabeledMetricsValues) or an C(execExpression) (MQE; select C(type error results { values { value
            } })). Its values in the window are reduced to one number by O(metrics[].skywalking.aggregate); points
            SkyWalking marks empty (C(isEmptyValue), a null MQE value) are left out, and a window without values is no data.
        type: dict
        suboptions:
          address:
            description:
              - The OAP server, for example V(http://skywalking-oap.skywalking:12800); C(/graphql) is appended unless the
                address ends with it.
            type: str
            required: true
          query:
            description:
              - The GraphQL query, as in an Argo Rollouts AnalysisTemplate; it must use C($duration). Template variables
                (C(${target}), C({{ namespace }}), ...) are JSON-escaped inside C("...") strings; a C($name) that is not a
                variable stays (it is a GraphQL variable).
            type: str
            required: true
          interval:
            description:
              - The window the query reads, a duration such as V(3m) (whole minutes, at least one); defaults to the
                metric's interval.
            type: str
          aggregate:
            description:
              - How the values in the window become one number - V(mean), V(min), V(max) or V(last) (the newest point).
              - Argo's C(successCondition) C(all(result.values, {asFloat(.value) >= 9900})) is V(min) with
                C(threshold_range.min=9900).
            type: str
            choices: [mean, min, max, last]
            default: mean
          headers:
            description: Request headers (for an OAP server behind an authenticating proxy); the values are secrets.
            type: dict
            default: {}
          timeout:
            description: Seconds to wait for the answer (Argo's provider waits 30).
            type: float
            default: 30.0
          validate_certs:
            description: Verify the server's TLS certificate.
            type: bool
            default: true
  metric_templates:
    description:
      - Metric templates by name, for O(metrics[].template_ref) - Flagger's C(MetricTemplate) spec in snake case.
      - Each is C(provider) (C(type) V(prometheus), V(web) or V(skywalking); C(address); C(secret_ref) C({name, namespace});
        C(insecure_skip_verify)), C(query) (PromQL or SkyWalking GraphQL), C(web) (C(url) - a path when C(provider.address)
        is set -, C(method), C(headers), C(body), C(json_path), C(timeout)), C(skywalking) (C(interval), C(aggregate),
        C(timeout), C(headers)) and C(variables) (name to default; V(null) makes it required).
      - Keep credentials out of templates - C(provider.secret_ref) names a Secret (keys C(address), C(token),
        C(username) + C(password), C(headers) as a JSON/YAML object) that the module reads from the cluster; its values
        never appear in the results or logs.
    type: dict
    default: {}
  metric_template_configmaps:
    description:
      - ConfigMaps that hold metric templates shared by several playbooks, one data key C(<template name>.yaml) (or C(.yml))
        per template, its value the template as YAML text; other keys are ignored. Read only when a metric uses
        O(metrics[].template_ref).
      - A missing ConfigMap is an error; a template name defined twice (here and in O(metric_templates), or in two
        ConfigMaps of one namespace) is an error naming both places.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The ConfigMap's name.
        type: str
        required: true
      namespace:
        description: Its namespace; by default O(namespace).
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
      - Prometheus is checked when a metric uses it (or O(metrics) is empty); every SkyWalking server is asked
        C(query { version }) once. A web endpoint is only known per metric, so its first query is its check.
      - A rollout runs it before any traffic moves to the canary, so a metrics server that is down never lets traffic reach
        an unanalysed canary.
    type: bool
    default: false
  check_window:
    description:
      - Before any metric is queried, read Prometheus' configuration once (C(/api/v1/status/config)) and fail when a
        Prometheus metric's window (O(interval), or its O(metrics[].interval)) is shorter than two scrape intervals - the
        largest of the global C(scrape_interval) and every job's - since a C(rate()) over it holds fewer than two samples
        and reads as no data. The message names both numbers and the option to raise (C(rollout_analysis.metric_interval) in
        the rollout role).
      - Metrics with O(metrics[].web) or O(metrics[].skywalking) have other sources and are not checked. Meant to be used
        with O(online_check), once before the analysis - together they are the preflight of a rollout, and no metric is
        evaluated (there is no canary traffic to measure yet).
    type: bool
    default: false
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.prometheus.module
  - progressive.delivery.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads from Prometheus (and, for O(metrics[].template_ref), ConfigMaps and Secrets of the cluster), so it
        runs the same queries in check mode.
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

- name: An error rate from any JSON API (Argo's web provider), the token kept secret
  progressive.delivery.canary_metric_check:
    target: podinfo
    namespace: test
    metrics:
      - name: error-rate
        web:
          url: "https://metrics.example.com/api/v1/errors?app=$target&ns=$namespace&window=$interval"
          headers:
            Authorization: "Bearer {{ metrics_api_token }}"
          json_path: data.errorRate
          timeout: 5
        threshold_range:
          max: 1

- name: SkyWalking's Apdex of the canary subset (seed of Argo Rollouts + SkyWalking), every point of 3 minutes at least 9900
  progressive.delivery.canary_metric_check:
    target: reviews
    namespace: bookinfo
    variables:
      service_name: "canary|reviews|bookinfo|cp-cluster-1|-"
    metrics:
      - name: apdex
        skywalking:
          address: http://skywalking-oap.skywalking:12800
          interval: 3m
          aggregate: min
          query: >-
            query queryData($duration: Duration!) {
            service_apdex: readMetricsValues(condition: {name: "service_apdex",
            entity: {scope: Service, serviceName: "$service_name", normal: true}}, duration: $duration) {
            label values { values { value isEmptyValue } } } }
        threshold_range:
          min: 9900

- name: A SkyWalking metric from a shared template (a ConfigMap) with its credential in a Secret
  progressive.delivery.canary_metric_check:
    target: reviews
    namespace: bookinfo
    metric_template_configmaps:
      - name: metric-templates         # data key skywalking-apdex.yaml: {provider: {type: skywalking, secret_ref: ...}, query: ...}
        namespace: istio-system
    metrics:
      - name: apdex
        template_ref:
          name: skywalking-apdex
          namespace: istio-system
        template_variables:
          service_name: "canary|reviews|bookinfo|cp-cluster-1|-"
        threshold_range:
          min: 9900

- name: A template defined in the play (Flagger's MetricTemplate, snake case)
  progressive.delivery.canary_metric_check:
    target: podinfo
    namespace: test
    metric_templates:
      not-found-percentage:
        provider:
          type: prometheus
          address: http://prometheus.istio-system:9090
        query: >-
          100 - sum(rate(istio_requests_total{destination_workload_namespace="$namespace",destination_workload="$target",
          response_code!="$code"}[$interval])) / sum(rate(istio_requests_total{destination_workload_namespace="$namespace",
          destination_workload="$target"}[$interval])) * 100
        variables:
          code: "404"
    metrics:
      - name: not-found
        template_ref:
          name: not-found-percentage
        threshold_range:
          max: 5
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
    source:
      description: Where the value came from - V(prometheus), V(web) or V(skywalking).
      type: str
      sample: prometheus
    template:
      description: The builtin template used, or V(null) for a custom query.
      type: str
      sample: request-success-rate
    query:
      description:
        - The query exactly as sent (after rendering and escaping) - the PromQL, the web request's method and URL
          (without credentials, never the headers), or the SkyWalking GraphQL query.
      type: str
      sample: >-
        (sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo",
        response_code!~"5.*"}[1m])) or on() vector(0)) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",
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
    - When a metrics source could not be queried at all, what went wrong - V(config), V(connection) (refused, DNS,
      timeout), V(tls), V(auth) (401 or 403), V(api) (an HTTP or Prometheus error) or V(response) (not the source's
      answer, for example a body that is not JSON).
  returned: on such a failure
  type: str
  sample: connection
window:
  description: With O(check_window=true), the scrape interval the windows were checked against.
  returned: when O(check_window=true) and a metric uses Prometheus
  type: dict
  contains:
    scrape_interval_seconds:
      description: The largest scrape interval of Prometheus' configuration, in seconds.
      type: float
      sample: 15.0
    job:
      description: The scrape job with that interval, or null when it is the global one.
      type: str
    checked:
      description: The names of the metrics whose window was checked.
      type: list
      elements: str
online:
  description: With O(online_check=true), whether the metrics servers answered (Prometheus C(vector(1))); null otherwise.
  returned: always
  type: bool
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "metric checks failed: request success rate 69.17% < 99%"
"""

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.progressive.delivery.plugins.module_utils import _metric_http
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, sources
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import templates as mt
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule, ClusterError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import SourceError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient, PrometheusError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import skywalking, web
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.window import MetricWindowError


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
            template_ref=dict(type="dict", options=dict(name=dict(type="str", required=True), namespace=dict(type="str"))),
            template_variables=dict(type="dict"),
            web=dict(type="dict", options=dict(
                url=dict(type="str", required=True),
                method=dict(type="str", choices=list(web.METHODS), default="GET"),
                headers=dict(type="dict", default={}, no_log=True),
                body=dict(type="raw"),
                timeout=dict(type="float", default=web.DEFAULT_TIMEOUT),
                json_path=dict(type="str"),
                validate_certs=dict(type="bool", default=True),
            )),
            skywalking=dict(type="dict", options=dict(
                address=dict(type="str", required=True),
                query=dict(type="str", required=True),
                interval=dict(type="str"),
                aggregate=dict(type="str", choices=list(skywalking.AGGREGATES), default=skywalking.DEFAULT_AGGREGATE),
                headers=dict(type="dict", default={}, no_log=True),
                timeout=dict(type="float", default=skywalking.DEFAULT_TIMEOUT),
                validate_certs=dict(type="bool", default=True),
            )),
        ), mutually_exclusive=[("template", "query")]),
        metric_templates=dict(type="dict", default={}),
        metric_template_configmaps=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str"),
        )),
        on_no_data=dict(type="str", choices=list(checks.ON_NO_DATA_CHOICES), default="fail"),
        fail_on_breach=dict(type="bool", default=False),
        online_check=dict(type="bool", default=False),
        check_window=dict(type="bool", default=False),
    )


def resolve_templates(canary):
    """The metrics with every ``template_ref`` resolved, and the Prometheus connection; secrets added to no_log_values.

    ConfigMaps and Secrets are read through the collection's cluster client only when a metric uses a template."""
    params = canary.params
    metrics = params["metrics"] or []
    if not mt.uses_templates(metrics):
        return metrics, params["prometheus"]
    namespace = params["namespace"]
    found = mt.parse_templates(params["metric_templates"], "metric_templates")
    for index, ref in enumerate(mt.parse_configmap_refs(params["metric_template_configmaps"], "metric_template_configmaps", namespace)):
        configmap = canary.cluster.get("v1", "ConfigMap", ref["namespace"], ref["name"])
        if configmap is None:
            raise mt.MetricTemplateError("metric_template_configmaps[%d]: ConfigMap %s/%s does not exist; create it with one "
                                         "<template name>.yaml key per template, or remove it from the list" % (index, ref["namespace"], ref["name"]))
        found.extend(mt.templates_from_configmap(configmap, "metric_template_configmaps[%d]" % index))
    template_set = mt.TemplateSet(found)
    resolved, connections, secrets = [], [], {}
    for index, spec in enumerate(metrics):
        entry, template = mt.resolve_metric(spec, index, template_set, namespace)
        if template is None:
            resolved.append(spec)
            continue
        key = mt.secret_key(template, namespace)
        if key is not None and key not in secrets:
            secret = canary.cluster.get("v1", "Secret", key[0], key[1])
            secrets[key] = mt.decode_secret(secret) if secret is not None else None
        where = "metrics[%d] (%s)" % (index, spec.get("name"))
        entry, connection, values = mt.apply_secret(entry, template, secrets.get(key), where, namespace)
        canary.module._module.no_log_values.update(value for value in values if value)
        if template["type"] == "prometheus":
            connections.append((where, connection))
        resolved.append(entry)
    return resolved, mt.prometheus_connection(connections, params["prometheus"])


def main():
    canary = CanaryModule(argspec(), service_name=False, fence=False, rehearse=False, name="canary_metric_check", check_k8s=False)
    module = canary.module
    params = module.params
    try:
        metric_specs, prometheus_options = resolve_templates(canary)
    except mt.MetricTemplateError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind="config")
    except ClusterError as exc:
        module.fail_json(msg="cannot read the metric templates or their Secrets: %s" % to_text(exc), changed=False, error_kind="config")
    try:
        variables = checks.template_variables(params["provider"], params["target"], params["namespace"], params["interval"],
                                              service=params["service"], variables=params["variables"])
        metric_checks = []
        if params["metrics"] or not params["online_check"]:
            metric_checks = checks.build_checks(params["provider"], metric_specs, params["interval"])
        if any(check.source == web.NAME for check in metric_checks):
            web.require_jmespath()
        # Prometheus is needed only by Prometheus checks (and the online check without metrics).
        client = None
        if not metric_checks or any(check.source == sources.DEFAULT_SOURCE for check in metric_checks):
            client = PrometheusClient.from_options(prometheus_options)
        source_set = sources.SourceSet(prometheus_client=client, transport=_metric_http.send)
    except checks.CheckConfigError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except SourceError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind=exc.kind)

    if params["online_check"]:
        try:
            checks.check_online(source_set, metric_checks)
        except SourceError as exc:
            what = "Flagger's vector(1) check" if isinstance(exc, PrometheusError) else "the online check (query { version })"
            module.fail_json(msg="the metrics server does not answer %s: %s" % (what, exc), changed=False,
                             error_kind=exc.kind, online=False)
        if not metric_checks:
            module.exit_json(changed=False, online=True, passed=True, metrics=[], failed_metrics=[], skipped_metrics=[],
                             error_metrics=[], msg="Prometheus answers vector(1)")

    window = None
    if params["check_window"] and any(check.source == sources.DEFAULT_SOURCE for check in metric_checks):
        try:
            window = checks.check_windows(client.status_config(), metric_checks)
        except MetricWindowError as exc:
            module.fail_json(msg=str(exc), changed=False, error_kind="config",
                             online=True if params["online_check"] else None)
        except SourceError as exc:
            module.fail_json(msg="cannot read Prometheus' configuration to check the metric windows: %s" % exc, changed=False,
                             error_kind=exc.kind)

    if params["online_check"] and params["check_window"]:
        module.exit_json(changed=False, online=True, passed=True, metrics=[], failed_metrics=[], skipped_metrics=[], error_metrics=[],
                         window=window, msg="the metrics servers answer and every metric window holds two scrape intervals")

    try:
        report = checks.run_checks(source_set, metric_checks, variables, params["on_no_data"], provider=params["provider"])
    except SourceError as exc:
        module.fail_json(msg=str(exc), changed=False, error_kind=exc.kind)

    result = dict(changed=False, msg=checks.summary(report), online=True if params["online_check"] else None, **report)
    if window is not None:
        result["window"] = window
    if report["error_metrics"]:
        errors = [m["message"] for m in report["metrics"] if m["status"] == checks.STATUS_ERROR]
        result["msg"] = "metric queries could not be evaluated: %s" % "; ".join(errors)
        module.fail_json(**result)
    if params["fail_on_breach"] and not report["passed"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
