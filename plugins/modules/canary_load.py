#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_load
short_description: Send HTTP load to a canary with hey and report what happened
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Runs L(hey,https://github.com/rakyll/hey) - the load generator of Flagger's load tester - against a URL, for a
    duration or a number of requests, and returns the number of requests, requests per second, the count of every
    status code, the success rate (non-5xx, as Flagger counts it) and the latency percentiles.
  - The numbers are computed from hey's per-request CSV output (C(-o csv)), not from its text summary - latency
    percentiles use the nearest-rank method on every response, at hey's resolution of 0.1 ms.
  - hey is run with an argument list, never through a shell, so header or body values cannot inject commands.
  - "To keep traffic flowing during a whole analysis window, run it in the background with C(async) and C(poll: 0), then
    collect the result with M(ansible.builtin.async_status) (see the examples)."
options:
  url:
    description:
      - The URL to load, for example V(http://podinfo-canary.test:9898/).
    type: str
    required: true
  duration:
    description:
      - How long to send load, as hey's C(-z) - a Go duration such as V(30s), V(1m) or V(1m30s). Mutually exclusive with O(requests).
      - Requests that got no HTTP response (connection refused, timeout) are not counted in this mode, because hey's CSV
        output lists only responses; use O(requests) when such errors must be counted (RV(errors)).
    type: str
  requests:
    description:
      - How many requests to send (hey's C(-n)); at least O(concurrency). Mutually exclusive with O(duration).
        With neither, hey sends 200 requests.
      - hey divides them evenly between the workers, so O(requests) is rounded down to a multiple of O(concurrency).
    type: int
  concurrency:
    description:
      - Number of workers sending requests at the same time (hey's C(-c), whose default is 50).
    type: int
  qps:
    description:
      - Rate limit B(per worker) in requests per second (hey's C(-q)); the total rate is O(qps) times O(concurrency).
        Flagger's tutorials use C(-q 10 -c 2), 20 requests per second. Default is no limit.
    type: float
  method:
    description:
      - HTTP method.
    type: str
    choices: [GET, POST, PUT, DELETE, HEAD, OPTIONS]
    default: GET
  headers:
    description:
      - Extra request headers, as a dictionary of names to values.
    type: dict
    default: {}
  host:
    description:
      - The Host header (hey's C(-host)), for example to reach a mesh or ingress listener by service name.
    type: str
  body:
    description:
      - The request body.
    type: str
  content_type:
    description:
      - The C(Content-Type) of O(body) (hey's default is C(text/html)).
    type: str
  timeout:
    description:
      - Seconds before a request is given up (hey's C(-t), whose default is 20; V(0) waits forever).
    type: int
  executable:
    description:
      - The hey program, a name looked up on E(PATH) or a path.
    type: str
    default: hey
extends_documentation_fragment:
  - progressive.delivery.attributes
requirements:
  - hey (Debian and Ubuntu package C(hey), C(brew install hey), or C(go install github.com/rakyll/hey@latest)) on the host that runs the module
attributes:
  check_mode:
    support: full
    details: In check mode no load is sent; RV(cmd) shows the command that would run.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Load changes no state it manages, so it always reports C(changed=false).
seealso:
  - module: progressive.delivery.canary_metric_check
  - module: ansible.builtin.async_status
  - name: Flagger load testing
    description: Flagger's load tester, which runs hey in the same way during an analysis.
    link: https://docs.flagger.app/usage/webhooks#load-testing
"""

EXAMPLES = r"""
- name: Send 10 requests per second from 2 workers for 30 seconds (Flagger's load test)
  progressive.delivery.canary_load:
    url: http://podinfo-canary.test:9898/
    duration: 30s
    qps: 10
    concurrency: 2
  register: load

- name: Show what the canary answered
  ansible.builtin.debug:
    msg: "{{ load.requests }} requests, {{ load.success_rate }}% ok, p99 {{ load.latency_ms.p99 }} ms, codes {{ load.status_codes }}"

- name: Start load in the background for the whole analysis window
  progressive.delivery.canary_load:
    url: http://127.0.0.1:8080/
    host: podinfo.test
    headers:
      x-canary: insider
    duration: 2m
    qps: 10
    concurrency: 2
  async: 180
  poll: 0
  register: load_job

- name: Check the canary's metrics while the load runs
  progressive.delivery.canary_metric_check:
    target: podinfo
    namespace: test
    metrics:
      - name: request-success-rate
        threshold_range:
          min: 99
  register: analysis

- name: Collect the load test's result
  ansible.builtin.async_status:
    jid: "{{ load_job.ansible_job_id }}"
  register: load_result
  until: load_result.finished
  retries: 60
  delay: 5

- name: POST a JSON body, counting every failed connection
  progressive.delivery.canary_load:
    url: http://podinfo-canary.test:9898/echo
    method: POST
    body: '{"ping": true}'
    content_type: application/json
    requests: 500
    concurrency: 5
    timeout: 5
"""

RETURN = r"""
cmd:
  description: The hey command, as the argument list that was run (or would run, in check mode).
  returned: always
  type: list
  elements: str
  sample: [hey, -o, csv, -z, 30s, -c, "2", -q, "10", -m, GET, "http://podinfo-canary.test:9898/"]
requests:
  description:
    - Requests sent - responses plus RV(errors) when those are known (O(requests) mode), otherwise the responses.
  returned: when load was sent
  type: int
  sample: 600
responses:
  description: Requests that got an HTTP response, whatever its status.
  returned: when load was sent
  type: int
  sample: 600
errors:
  description:
    - Requests that got no HTTP response (connection refused or reset, timeout). V(null) in O(duration) mode, where
      hey does not report them in its CSV output.
  returned: when load was sent
  type: int
  sample: 0
duration:
  description: Seconds from the first request's start to the last response, from hey's per-request offsets.
  returned: when load was sent
  type: float
  sample: 29.95
rps:
  description: Responses per second over RV(duration).
  returned: when load was sent
  type: float
  sample: 20.03
status_codes:
  description: Number of responses per HTTP status code.
  returned: when load was sent
  type: dict
  sample: {"200": 480, "500": 120}
success_rate:
  description:
    - Percentage of requests answered with a status below 500 (Flagger's success), with RV(errors) counted as failures.
      V(null) when there was no request.
  returned: when load was sent
  type: float
  sample: 80.0
latency_ms:
  description: Response time statistics in milliseconds over every response (nearest-rank percentiles).
  returned: when load was sent
  type: dict
  contains:
    min:
      description: Fastest response.
      type: float
    mean:
      description: Arithmetic mean.
      type: float
    p50:
      description: Median.
      type: float
    p90:
      description: 90th percentile.
      type: float
    p95:
      description: 95th percentile.
      type: float
    p99:
      description: 99th percentile.
      type: float
    max:
      description: Slowest response.
      type: float
  sample: {min: 1.2, mean: 20.4, p50: 3.1, p90: 95.0, p95: 96.2, p99: 98.7, max: 101.3}
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "600 requests in 29.95 s (20.03/s), success rate 80.00%, p99 98.70 ms"
"""

import shlex

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.load import (
    HEY_INSTALL_HINT, LoadConfigError, build_command, parse_csv, requests_sent, summarize)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            duration=dict(type="str"),
            requests=dict(type="int"),
            concurrency=dict(type="int"),
            qps=dict(type="float"),
            method=dict(type="str", choices=["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"], default="GET"),
            headers=dict(type="dict", default={}),
            host=dict(type="str"),
            body=dict(type="str"),
            content_type=dict(type="str"),
            timeout=dict(type="int"),
            executable=dict(type="str", default="hey"),
        ),
        mutually_exclusive=[("duration", "requests")],
        supports_check_mode=True,
    )
    params = module.params
    executable = params["executable"]
    try:
        cmd = build_command(params, executable)
    except LoadConfigError as exc:
        module.fail_json(msg=str(exc), changed=False)

    path = module.get_bin_path(executable, required=False)
    if path is None:
        module.fail_json(msg="hey (%s) was not found: %s" % (executable, HEY_INSTALL_HINT), cmd=cmd, changed=False)
    cmd[0] = path
    if module.check_mode:
        module.exit_json(changed=False, cmd=cmd, msg="check mode: no load sent; would run %s" % " ".join(shlex.quote(arg) for arg in cmd))

    rc, out, err = module.run_command(cmd)
    if rc != 0:
        module.fail_json(msg="hey failed with exit code %d: %s" % (rc, (err or out).strip()[:2000]), cmd=cmd, rc=rc, changed=False)
    try:
        rows = parse_csv(out)
    except (ValueError, KeyError) as exc:
        module.fail_json(msg="could not read hey's CSV output: %s" % exc, cmd=cmd, changed=False)

    result = summarize(rows, requests_sent(params))
    if not rows:
        module.fail_json(msg="hey got no HTTP response from %s (connection refused, wrong host or port, or every request timed out)" % params["url"],
                         cmd=cmd, changed=False, **result)
    result["msg"] = "%d requests in %.2f s (%s/s), success rate %.2f%%, p99 %.2f ms" % (
        result["requests"], result["duration"], result["rps"], result["success_rate"], result["latency_ms"]["p99"])
    module.exit_json(changed=False, cmd=cmd, **result)


if __name__ == "__main__":
    main()
