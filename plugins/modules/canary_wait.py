#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_wait
short_description: Wait out an analysis interval, or for the canary to be ready, and stop at once for an abort, a promotion or a new revision
version_added: 1.0.0
description:
  - The wait of a rollout run, as Flagger's ticker waits between two checks, but interruptible - polling every O(poll)
    seconds it ends early when
  - an operator's abort or promotion request is recorded in the status (C(<target>-canary-status), see
    M(progressive.delivery.canary_state)) - RV(interrupted=abort) or RV(interrupted=promote);
  - the target's pod-template hash (with the tracked ConfigMaps and Secrets) differs from O(revision) - a new revision was
    pushed during the analysis - RV(interrupted=revision);
  - with O(until=canary_ready), the target Deployment is rolled out with at least one ready replica - RV(ready=true);
  - with O(watch_health) and O(until=elapsed), the canary is unhealthy - RV(unhealthy) names the pod, the container and
    its state.
  - With O(on_abort=route_to_primary) an abort request routes all traffic to the primary (A/B route and mirror removed, as
    M(progressive.delivery.canary_rollback) does) the moment it is seen, before the module returns, so the traffic is safe
    within one O(poll) of the request; scaling the canary down and recording the rollback are left to the caller.
  - With O(fast_abort) and O(until=elapsed) it also reads the canary's request and 5xx counters since O(fast_abort.started)
    from Prometheus every O(fast_abort.poll) seconds and ends the wait with RV(interrupted=fast_abort) and the decision in
    RV(fast_abort) as soon as a breach of the success rate is certain - the failures already make
    O(fast_abort.min_success_rate) unreachable for O(fast_abort.expected_requests), or Wald's sequential test says the
    error rate is worse than the threshold allows, with O(fast_abort.false_alarm_rate) as its false-alarm risk. With
    O(on_abort=route_to_primary) that breach routes all traffic to the primary before the module returns, as an abort does.
  - With O(route_weight) and O(until=elapsed) it also reads the managed route (the router's split - Istio host weights or
    subsets, the Gateway API HTTPRoute's backendRefs; not the A/B match, mirror or sticky routes) at every poll and ends
    the wait with RV(interrupted=route_drift) and what it found in RV(route_drift) as soon as the canary's share differs
    from O(route_weight) or the managed route is gone - someone else (Argo CD's self-heal, Flux) re-applied it.
  - With O(fence) it proves before the first poll, and every third of the lease's duration, that the run still owns the
    lock, renewing it (the run's heartbeat); a run that lost the lock fails with RV(lock_lost=true).
author:
  - Progressive Delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
  - progressive.delivery.target.service_name
  - progressive.delivery.fence
  - progressive.delivery.routing
  - progressive.delivery.gatewayapi
  - progressive.delivery.prometheus.module
attributes:
  check_mode:
    support: full
    details: >-
      Looks once and returns without waiting (a dry run must not sleep) and without renewing the lock; O(route_weight) is
      not compared (a dry run did not write the weight).
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Writes nothing but the lease renewal of O(fence), and the route to the primary of O(on_abort=route_to_primary).
options:
  seconds:
    description: The longest wait, in seconds (fractions allowed). V(0) looks once.
    type: float
    required: true
  until:
    description:
      - V(elapsed) waits the whole time unless interrupted; V(canary_ready) returns as soon as the canary is ready.
    type: str
    choices: [elapsed, canary_ready]
    default: elapsed
  revision:
    description: The pod-template hash under analysis; a different hash ends the wait with RV(interrupted=revision).
    type: str
  config_tracking:
    description: Include the tracked ConfigMaps and Secrets in the hash, as M(progressive.delivery.canary_state) does. Keep both equal.
    type: bool
    default: true
  poll:
    description: Seconds between two looks at the status, the target and the lock.
    type: float
    default: 0.5
  on_abort:
    description:
      - V(return) only reports an abort request (RV(interrupted=abort)) or a fast abort (RV(interrupted=fast_abort));
        V(route_to_primary) also sends all traffic to the primary at once.
    type: str
    choices: [return, route_to_primary]
    default: return
  watch_health:
    description:
      - During an O(until=elapsed) wait, also look at the canary's pods (listed by the target's selector, at most once a
        second) and end the wait early with RV(unhealthy) when a container is in C(CrashLoopBackOff), C(ImagePullBackOff),
        C(ErrImagePull), C(CreateContainerConfigError) or C(CreateContainerError), terminated with an error, or restarted
        since the previous look, or when O(health_grace) is set and fewer replicas than desired were ready for longer.
      - The reason quotes the container's last log lines (C(pods/log), 10 lines) when the API server can read them, and
        says C(logs unavailable (...)) when it cannot.
      - Restarts that happened before the wait started are reported in RV(health), not judged - unless O(previous_restarts)
        gives the counts of the previous wait.
      - With O(until=canary_ready) nothing is judged; once the canary is ready its pods are looked at once and RV(health)
        returned, so that its restart counts can be the O(previous_restarts) of the waits that follow.
    type: bool
    default: false
  previous_restarts:
    description:
      - With O(watch_health), the restart counts the previous wait saw (its RV(health.restarts)), so that a container that
        restarted between two waits - after one ended and before the next began - counts as restarting.
    type: dict
  health_grace:
    description:
      - With O(watch_health), seconds the canary may have fewer ready replicas than desired before it is unhealthy.
      - Unset, the count and RV(health.stuck_seconds) are reported but not judged (enforce the progress deadline with them).
    type: float
  fast_abort:
    description:
      - Roll a failing canary back inside the interval (see the description); the counters are the canary workload's
        C(istio_requests_total) (reporter C(destination)) of O(fast_abort.provider=istio), or its Envoy cluster's
        C(envoy_cluster_upstream_rq_xx) of O(fast_abort.provider=envoy), as the builtin C(request-success-rate) counts them.
      - A Prometheus error during the wait does not end it; the look is reported in RV(fast_abort.error).
    type: dict
    suboptions:
      started:
        description: Unix time the interval started; the counts are the requests since then.
        type: float
        required: true
      min_success_rate:
        description: The success-rate threshold in percent (the C(request-success-rate) metric's C(threshold_range.min)).
        type: float
        required: true
      false_alarm_rate:
        description: The sequential test's false-alarm risk for a canary exactly at the threshold, between 0 and 1.
        type: float
        default: 0.01
      ratio:
        description: The error rate that is a failure, as a multiple of the acceptable one (above 1).
        type: float
        default: 3
      poll:
        description: Seconds between two reads of the counters (the role uses Prometheus' scrape interval).
        type: float
        default: 1
      expected_requests:
        description:
          - The requests the whole interval will bring the canary (the role's load, qps x duration); with it, failures that
            make the threshold unreachable abort at once. Unset, only the sequential test decides.
        type: int
      provider:
        description: Whose counters to read.
        type: str
        choices: [istio, envoy]
        default: istio
  route_weight:
    description:
      - The canary weight (percent) the run routed for this interval; with O(until=elapsed), a split found different at a
        poll ends the wait with RV(interrupted=route_drift). Unset, the route is not watched.
    type: int
seealso:
  - module: progressive.delivery.canary_state
  - module: progressive.delivery.canary_lock
"""

EXAMPLES = r"""
- name: Wait for the end of the interval unless an operator aborts or a new revision arrives
  progressive.delivery.canary_wait:
    namespace: test
    target: podinfo
    seconds: 55
    revision: "{{ analysed_hash }}"
    fence:
      holder: "{{ lock_holder }}"
      token: "{{ lock.lease.token }}"
  register: podinfo_wait

- name: Roll back at once when an abort was requested
  ansible.builtin.debug:
    msg: "abort requested by {{ podinfo_wait.status.run.requested_by }}"
  when: podinfo_wait.interrupted == 'abort'

- name: Wait up to ten minutes for the canary to be ready
  progressive.delivery.canary_wait:
    namespace: test
    target: podinfo
    seconds: 600
    until: canary_ready
  register: podinfo_ready

- name: Wait out the interval, ending it early when the canary crash-loops
  progressive.delivery.canary_wait:
    namespace: test
    target: podinfo
    seconds: 55
    revision: "{{ analysed_hash }}"
    watch_health: true
  register: podinfo_wait

- name: Wait out the interval, ending it as soon as the canary's 5xx make a success rate of 99 % impossible
  progressive.delivery.canary_wait:
    namespace: test
    target: podinfo
    seconds: 55
    revision: "{{ analysed_hash }}"
    prometheus:
      url: http://prometheus.istio-system:9090
    fast_abort:
      started: "{{ interval_started }}"
      min_success_rate: 99
      poll: 15
      expected_requests: 540
  register: podinfo_wait

- name: Roll back a canary the fast abort condemned
  ansible.builtin.debug:
    msg: "fast abort: {{ podinfo_wait.fast_abort.reason }}"
  when: podinfo_wait.interrupted == 'fast_abort'

- name: Wait out the interval, ending it when someone else changes the 30 % split
  progressive.delivery.canary_wait:
    namespace: test
    target: podinfo
    seconds: 55
    route_weight: 30
  register: podinfo_wait

- name: Report a changed route
  ansible.builtin.debug:
    msg: "route of {{ podinfo_wait.route_drift.route }} changed: {{ podinfo_wait.route_drift.reason }}"
  when: podinfo_wait.interrupted == 'route_drift'

- name: Roll back an unhealthy canary
  ansible.builtin.debug:
    msg: "{{ podinfo_wait.unhealthy.reason }}"
  when: podinfo_wait.unhealthy
"""

RETURN = r"""
interrupted:
  description: What ended the wait early - V(abort), V(promote), V(revision), V(fast_abort), V(route_drift) - or null.
  returned: success
  type: str
waited:
  description: Seconds waited.
  returned: success
  type: float
  sample: 4.51
ready:
  description: With O(until=canary_ready), whether the canary is ready; null otherwise.
  returned: success
  type: bool
message:
  description: With O(until=canary_ready), the canary's rollout state in the words of C(kubectl rollout status).
  returned: success
  type: str
status:
  description: The rollout's stored status when the wait ended (see M(progressive.delivery.canary_state)).
  returned: success
  type: dict
revision:
  description: The target's revision when the wait ended.
  returned: success
  type: dict
  contains:
    hash:
      description: The pod-template hash of the target (null when the Deployment does not exist).
      type: str
on_abort:
  description: With O(on_abort=route_to_primary) and an abort or a fast abort seen, the weights before traffic went to the primary.
  returned: when an abort or a fast abort was acted on
  type: dict
  sample: {"primary": 80, "canary": 20}
unhealthy:
  description: With O(watch_health), what made the canary unhealthy and ended the wait; null while it is healthy.
  returned: when O(watch_health=true) and O(until=elapsed)
  type: dict
  contains:
    reason:
      description: In Flagger's words, naming the pod, the container and its state.
      type: str
      sample: >-
        canary podinfo-7d9c-abcde container podinfo CrashLoopBackOff (restarted 3 times, last exit code 1: Error);
        last log lines: unknown flag: --no-such-flag
    pods:
      description: The canary's containers, as in RV(health.pods).
      type: list
      elements: dict
health:
  description: With O(watch_health), the canary's health at the last look.
  returned: when O(watch_health=true) and O(until=elapsed), or O(until=canary_ready) and the canary is ready
  type: dict
  contains:
    healthy:
      description: Whether the canary is healthy.
      type: bool
    reason:
      description: Why not (empty when healthy).
      type: str
    pods:
      description: One entry per container of every canary pod.
      type: list
      elements: dict
      sample:
        - {"name": "podinfo-7d9c-abcde", "container": "podinfo", "ready": false, "restarts": 3,
           "state": {"state": "waiting", "reason": "CrashLoopBackOff", "message": "back-off restarting failed container podinfo"},
           "last_state": {"state": "terminated", "reason": "Error", "message": "", "exit_code": 1}}
    culprit:
      description: The pod and container the reason is about, or null.
      type: dict
    logs:
      description: The culprit's last log lines; null when they could not be read; absent when healthy.
      type: list
      elements: str
    ready_replicas:
      description: The canary Deployment's ready replicas.
      type: int
    desired_replicas:
      description: The canary Deployment's desired replicas.
      type: int
    stuck_seconds:
      description:
        - How long the canary has not been fully ready (0 when it is), from the pods' Ready transitions, so it spans
          several waits; compare it with the progress deadline during the analysis.
      type: float
    restarts:
      description: Restart count per C(pod/container).
      type: dict
fast_abort:
  description: With O(fast_abort), the decision of the last look at the canary's counters.
  returned: when O(fast_abort) is set and O(until=elapsed)
  type: dict
  contains:
    abort:
      description: Whether the breach is certain (the wait then ended with RV(interrupted=fast_abort)).
      type: bool
    rule:
      description: V(unreachable) or V(sequential) when it aborted, else null.
      type: str
    reason:
      description: Why, in numbers.
      type: str
      sample: "5 of 15 requests failed (33.33 %): worse than 99 % success with 1 % false-alarm risk (sequential test)"
    requests:
      description: The canary's requests since O(fast_abort.started).
      type: int
    failed:
      description: Of those, the failed (5xx) ones.
      type: int
    llr:
      description: The sequential test's log-likelihood ratio (null for the unreachable rule).
      type: float
    seconds:
      description: Seconds into the interval of this look.
      type: float
    looks:
      description: How many times the counters were read in this wait.
      type: int
    error:
      description: Why the counters could not be read at the last look (no decision then).
      type: str
route_drift:
  description: With O(route_weight), the split found at the last look when it differs from O(route_weight); null while it is the run's.
  returned: when O(route_weight) is set, O(until=elapsed) and not in check mode
  type: dict
  contains:
    route:
      description: The object that holds the split (kind and name).
      type: str
      sample: VirtualService podinfo
    expected:
      description: O(route_weight).
      type: int
    found:
      description: The canary's share found, in percent; null when the managed route is missing or routes nowhere.
      type: int
    weights:
      description: The weights found (primary, canary); null when the managed route is missing.
      type: dict
    reason:
      description: What was found, in words.
      type: str
      sample: "found canary 0 %, expected 30 %"
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock.
  returned: on that failure
  type: bool
"""

import copy

from ansible_collections.progressive.delivery.plugins.module_utils._canary import run_wait
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import CONNECTION_ARGUMENT_SPEC
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi_argument_spec, routing_argument_spec
from ansible_collections.progressive.delivery.plugins.module_utils.state import watch


def main():
    CanaryModule(dict(
        dict(routing_argument_spec(), **gatewayapi_argument_spec()),
        on_abort=dict(type="str", choices=["return", "route_to_primary"], default="return"),
        seconds=dict(type="float", required=True),
        until=dict(type="str", choices=list(watch.UNTIL_CHOICES), default=watch.ELAPSED),
        revision=dict(type="str"),
        config_tracking=dict(type="bool", default=True),
        poll=dict(type="float", default=0.5),
        watch_health=dict(type="bool", default=False),
        health_grace=dict(type="float"),
        previous_restarts=dict(type="dict"),
        route_weight=dict(type="int"),
        prometheus=dict(type="dict", default={}, options=copy.deepcopy(CONNECTION_ARGUMENT_SPEC)),
        fast_abort=dict(type="dict", options=dict(
            started=dict(type="float", required=True),
            min_success_rate=dict(type="float", required=True),
            false_alarm_rate=dict(type="float", default=0.01),
            ratio=dict(type="float", default=3),
            poll=dict(type="float", default=1),
            expected_requests=dict(type="int"),
            provider=dict(type="str", choices=["istio", "envoy"], default="istio"),
        )),
    ), rehearse=False).run(run_wait)


if __name__ == "__main__":
    main()
