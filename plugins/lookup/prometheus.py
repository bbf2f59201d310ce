# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: prometheus
short_description: Run a PromQL query and return its value
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Runs each term as an instant PromQL query (C(GET /api/v1/query)) and returns its value as a float, for a scalar
    or a vector with exactly one series.
  - With O(raw=true) returns every sample instead, as a list of C({metric, value, timestamp}).
  - An empty result or NaN is "no data" - an error by default, V(None) with O(on_no_data=none). Several series where
    one value was expected is an error that lists their labels.
  - Connection, TLS, authentication (401/403), HTTP and PromQL errors (with Prometheus' C(errorType) and message) and
    non-JSON answers become errors with a message that says what to fix.
  - The query runs on the controller.
options:
  _terms:
    description:
      - PromQL queries, one value (or list of samples) returned per query.
    type: list
    elements: str
    required: true
  raw:
    description:
      - Return the list of samples (C(metric) labels, C(value) as a float, C(timestamp)) instead of a single value.
        A range vector result gives C(values) (a list of C([timestamp, value])) instead of C(value).
    type: bool
    default: false
  on_no_data:
    description:
      - What an empty result or NaN gives - V(error) fails, V(none) returns V(None). Not used with O(raw=true), which
        returns the empty list (NaN values are kept as they are).
    type: str
    choices: [error, none]
    default: error
  time:
    description:
      - Evaluation time, as an RFC 3339 timestamp or a Unix timestamp. Default is the server's current time.
    type: str
  template_variables:
    description:
      - When given, each query is a template rendered with these variables first (Flagger's C(templateVariables)) - C($name), C(${name}) or
        C({{ name }}) (write the last form as C(!unsafe) or inside C({% raw %})). Each value is escaped for its place
        in the query (inside quotes, inside a regex matcher, or alone as a number, duration or name), so a value
        cannot change the query's meaning.
    type: dict
extends_documentation_fragment:
  - progressive.delivery.prometheus
notes:
  - Lookups return a list; with a single query and without C(wantlist=true) Ansible unwraps it, so
    C(lookup(...)) gives the float itself, and C(query(...)) gives a one-element list.
seealso:
  - module: progressive.delivery.canary_metric_check
"""

EXAMPLES = r"""
- name: Success rate of the canary over the last minute, in percent
  ansible.builtin.debug:
    msg: >-
      {{ lookup('progressive.delivery.prometheus',
                'sum(rate(istio_requests_total{destination_workload="podinfo",response_code!~"5.*"}[1m]))
                 / sum(rate(istio_requests_total{destination_workload="podinfo"}[1m])) * 100',
                url='http://prometheus.istio-system:9090') }}

- name: Every series, labels included, with the URL from PROMETHEUS_URL
  ansible.builtin.set_fact:
    up_targets: "{{ lookup('progressive.delivery.prometheus', 'up', raw=true) }}"

- name: A value that may be missing (no traffic yet) gives None instead of an error
  ansible.builtin.set_fact:
    p99: "{{ lookup('progressive.delivery.prometheus', query, url=prometheus_url, on_no_data='none', bearer_token=token) }}"
  vars:
    query: histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{destination_workload="podinfo"}[1m])) by (le))

- name: Variables are escaped, so a value cannot break out of its quotes
  ansible.builtin.set_fact:
    requests: >-
      {{ lookup('progressive.delivery.prometheus', 'sum(rate(http_requests_total{namespace="$ns"}[1m]))',
                template_variables={'ns': app_namespace}, url=prometheus_url) }}
"""

RETURN = r"""
_raw:
  description:
    - One entry per query - the value as a float (V(None) for no data with O(on_no_data=none)), or with O(raw=true)
      the list of samples.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import (
    CONNECTION_OPTIONS, PrometheusClient, PrometheusError)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import TemplateError, render
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import (
    NoDataError, ResultShapeError, samples, single_value)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        options = dict((name, self.get_option(name)) for name in CONNECTION_OPTIONS)
        try:
            client = PrometheusClient.from_options(options)
        except PrometheusError as exc:
            raise AnsibleLookupError("prometheus lookup: %s" % exc)
        template_variables = self.get_option("template_variables")
        return [self._one(client, term, template_variables) for term in terms]

    def _one(self, client, term, template_variables):
        query = term
        if template_variables is not None:
            try:
                query = render(term, template_variables)
            except TemplateError as exc:
                raise AnsibleLookupError("prometheus lookup: %s" % exc)
        try:
            result = client.query(query, time=self.get_option("time"))
        except PrometheusError as exc:
            raise AnsibleLookupError("prometheus lookup: %s" % exc)
        try:
            if self.get_option("raw"):
                return samples(result)
            return single_value(result)
        except NoDataError as exc:
            if self.get_option("on_no_data") == "none":
                return None
            raise AnsibleLookupError("prometheus lookup: no data for %s: %s (on_no_data=none returns None instead)" % (query, exc))
        except ResultShapeError as exc:
            raise AnsibleLookupError("prometheus lookup: %s: %s" % (query, exc))
