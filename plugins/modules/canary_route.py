#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_route
short_description: Set the traffic split, A/B match and mirror between primary and canary on an Istio VirtualService
version_added: 1.0.0
description:
  - Sets the state of the routes it manages on the VirtualService C(<apex>) and leaves every other http route, the tcp/tls
    routes and the other fields untouched.
  - The weighted route is the http route named O(route_name). Its destinations become the primary (100 - O(weight)) and the
    canary (O(weight)); extra fields of existing destination entries (port, headers) are kept.
  - With O(match), a route named C(<route_name>-canary-match) is placed right ahead of the weighted route and sends matching
    requests 100% to the canary (A/B testing). Without O(match) that route is removed.
  - With O(mirror=true) the weighted route mirrors requests to the canary (at O(weight=0) only). Without it mirroring is removed.
  - With O(mirror_match), a route named C(<route_name>-canary-mirror) is placed ahead of the weighted route; it sends the matching
    requests to the primary and mirrors them to the canary (Argo Rollouts' C(setMirrorRoute)), at any O(weight). Without
    O(mirror_match) that route is removed.
  - With O(session_affinity), while the canary gets traffic (O(weight) above 0, or an O(match)), the canary's responses set a
    cookie and a route named C(<route_name>-canary-sticky), placed first, sends the requests carrying it to the canary
    (Flagger's C(sessionAffinity)). Without O(session_affinity), at O(weight=0) without O(match), and when promotion or rollback
    route everything to the primary, that route and the cookie header are removed.
  - The managed routes ahead of the weighted route are kept in this order - sticky, A/B, mirror - so a client holding the
    affinity cookie stays on the canary, then the A/B test applies, then mirroring.
  - O(mode=host) (default, Flagger's model) routes to the Services C(<apex>-primary) and C(<apex>-canary);
    O(mode=subset) routes to the subsets O(primary_subset) and O(canary_subset) of the single host O(destination_host), which a
    DestinationRule must define.
  - Refuses to route to a Service or DestinationRule subset that does not exist, naming the missing object; nothing is written then.
  - Every option is checked before anything is read or written, and the error names the option and the fix. Then every object the
    module writes (the VirtualService) is first sent to the API server as a dry run (C(dryRun=All), C(fieldValidation=Strict)); only
    when the server accepts all of them are they written for real, so an object the server refuses (its schema, an admission policy)
    leaves nothing written. A field the cluster's schema does not know is refused rather than dropped.
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
attributes:
  check_mode:
    support: full
    details: Nothing is sent to the API server (not even a dry run); the result and diff are computed from the VirtualService read.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  weight:
    description:
      - Percent of the traffic sent to the canary (0-100); the primary gets the rest, so the weights always sum to 100.
      - When omitted the current canary weight is kept, so O(match) or O(mirror) can be changed alone.
      - With O(fence), a weight above the current one is refused (RV(interrupted)) while an operator's abort or promotion
        request is pending in the rollout's status, so a run never raises the traffic of a canary it was asked to stop.
    type: int
  match:
    description:
      - Istio C(HTTPMatchRequest) conditions for the A/B route (any one matching sends the request to the canary); see the examples
        for a header, a cookie and C(sourceLabels).
      - A cookie is matched by a regex on the C(cookie) header, which Envoy applies to the whole header value (RE2). Browsers
        separate cookies with a semicolon and a space, so the regex has to allow the space, as the example does - it matches
        the cookie C(canary=always) wherever it is in the header, and neither C(xcanary=always) nor C(canary=alwaysx).
      - String matchers are C(exact), C(prefix), C(regex), and C(suffix) (written as an anchored regex, since Istio has none).
      - When the weighted route has match conditions of its own, the A/B route only takes requests that match one of them
        B(and) one A/B condition, as the weighted route would otherwise never see the others. Each pair (route condition,
        A/B condition) becomes one Istio condition holding every field of both - C(headers), C(queryParams) and
        C(withoutHeaders) merged by name, C(uri) with its own C(ignoreUriCase), C(scheme), C(method), C(authority), C(port),
        C(sourceLabels), C(sourceNamespace), C(gateways) (the names in both lists).
      - When both constrain the same field, the narrower matcher is kept (C(uri) prefix C(/api) and exact C(/api/beta) give exact
        C(/api/beta)). A pair that no request can satisfy (C(uri) prefix C(/api) and exact C(/v2), one header with two different
        exact values, two ports) matches nothing and is left out; when no pair is left the module fails, naming the conditions,
        and writes nothing.
      - A pair that one Istio condition cannot express makes the module fail, naming both conditions, and nothing is written
        (widening the pair would send requests to the canary that the weighted route does not get, narrowing it would shrink
        the A/B test). That is the case for two different regexes, or a regex and another matcher, on one field; two
        different C(withoutHeaders) matchers on one header; C(gateways) in one and C(sourceLabels) or C(sourceNamespace) in the
        other (Istio ignores those two in a condition that names gateways).
      - An empty list is an error; omit the option to remove the A/B route.
    type: list
    elements: dict
  mirror:
    description:
      - Mirror the requests of the weighted route to the canary. Only allowed at O(weight=0).
      - Cannot be combined with O(mirror_match), which mirrors only some requests.
    type: bool
    default: false
  mirror_weight:
    description:
      - Percent (1-100) of the requests to mirror; all of them when omitted. Needs O(mirror=true) or O(mirror_match).
      - With O(mirror_match) it is the share of the matching requests that is mirrored.
    type: int
  mirror_match:
    description:
      - Istio C(HTTPMatchRequest) conditions of the requests to mirror (Argo Rollouts' C(setMirrorRoute)); any one matching sends
        the request to the primary, which answers it, and a copy to the canary, whose answer is discarded.
      - Written the same way as O(match) and, like it, combined with the weighted route's own conditions.
      - Allowed at any O(weight); the weighted route keeps its split for the requests that do not match. The copies are counted in
        the canary's metrics like live requests.
      - An empty list is an error; omit the option to remove the mirror route.
    type: list
    elements: dict
  session_affinity:
    description:
      - Keep a client that was routed to the canary on the canary (Flagger's C(sessionAffinity)).
      - While the canary gets traffic, the canary destinations of the managed routes add the response header
        C(Set-Cookie) with V(<cookie_name>=<value>; Max-Age=<max_age>), and the route C(<route_name>-canary-sticky) sends every
        request whose C(cookie) header holds that cookie to the canary.
      - The value is derived from the canary's revision (the hash of the target's pod template) and the route's names, so
        running the task again changes nothing, and the next revision gets a new cookie (clients pinned to the previous canary
        are split again like new ones).
    type: dict
    suboptions:
      cookie_name:
        description: Name of the cookie; an RFC 6265 token (letters, digits and C(!#$%&'*+-.^_`|~)).
        type: str
        required: true
      max_age:
        description: Seconds a client keeps the cookie (its C(Max-Age)); above 0.
        type: int
        default: 86400
seealso:
  - module: progressive.delivery.canary_init
  - module: progressive.delivery.canary_rollback
"""

EXAMPLES = r"""
- name: Send 20% of the traffic to the canary
  progressive.delivery.canary_route:
    namespace: test
    target: podinfo
    weight: 20
  register: podinfo_route

- name: A/B test - insiders go to the canary, everybody else to the primary
  progressive.delivery.canary_route:
    namespace: test
    target: podinfo
    weight: 0
    match:
      - headers:
          x-canary:
            exact: insider
      - headers:
          cookie:                 # single quotes: \s is not an escape in a double-quoted YAML string
            regex: '^(.*?;\s*)?(canary=always)(;.*)?$'

- name: >-
    A/B test on a route that has conditions of its own (uri prefix /api or header x-api) - only beta testers of the API
    reach the canary; the A/B route gets [/api and x-beta: on, x-api: 1 and x-beta: on]
  progressive.delivery.canary_route:
    namespace: test
    target: podinfo
    weight: 0
    match:
      - headers:
          x-beta:
            exact: "on"

- name: Blue/green with mirroring - copy half of the requests to the canary
  progressive.delivery.canary_route:
    namespace: test
    target: podinfo
    weight: 0
    mirror: true
    mirror_weight: 50

- name: Canary at 50% with session affinity - a client once answered by the canary keeps getting it
  progressive.delivery.canary_route:
    namespace: test
    target: podinfo
    weight: 50
    session_affinity:
      cookie_name: canary-affinity
      max_age: 3600

- name: Mirror the requests of the QA team to the canary while 10% of the traffic goes to it
  progressive.delivery.canary_route:
    namespace: test
    target: podinfo
    weight: 10
    mirror_match:
      - headers:
          x-team:
            exact: qa
    mirror_weight: 100

- name: Subset-level split on a VirtualService written by hand (subsets v1 and v2)
  progressive.delivery.canary_route:
    namespace: istio-test
    target: backend-v2
    service_name: backend
    mode: subset
    primary_subset: v1
    canary_subset: v2
    weight: 10
"""

RETURN = r"""
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
interrupted:
  description:
    - With O(fence), V(abort) or V(promote) when the weight was not raised because an operator's request is pending
      (the task fails and writes nothing); RV(requested_by) and RV(request_reason) say who asked and why.
  returned: on that failure
  type: str
requested_by:
  description: Who made the pending request (see RV(interrupted)).
  returned: on that failure
  type: str
request_reason:
  description: The reason given with the pending request (see RV(interrupted)).
  returned: on that failure
  type: str
weights:
  description: The weights after the change (predicted in check mode).
  returned: success
  type: dict
  contains:
    primary:
      description: Percent of the traffic the primary gets.
      type: int
      sample: 80
    canary:
      description: Percent of the traffic the canary gets.
      type: int
      sample: 20
previous_weights:
  description: The weights before the change, in the same form as RV(weights).
  returned: success
  type: dict
  sample: {"primary": 100, "canary": 0}
match:
  description:
    - The conditions of the A/B route after the change (the O(match) conditions combined with the weighted route's own), or
      null when there is none.
  returned: success
  type: list
  elements: dict
mirror:
  description: Whether the weighted route mirrors to the canary after the change.
  returned: success
  type: bool
mirror_match:
  description:
    - The conditions of the mirror route after the change (the O(mirror_match) conditions combined with the weighted route's own),
      or null when there is none.
  returned: success
  type: list
  elements: dict
session_affinity:
  description: The session affinity in force after the change, or null (none asked for, or the canary gets no traffic).
  returned: success
  type: dict
  contains:
    cookie_name:
      description: Name of the cookie.
      type: str
      sample: canary-affinity
    max_age:
      description: Seconds a client keeps the cookie.
      type: int
      sample: 86400
    cookie_value:
      description: The value of the cookie the canary sets (derived from the canary's revision).
      type: str
      sample: 3f1c9a0b7d2e4f61
virtual_service:
  description: The resulting VirtualService (without status and server-maintained metadata).
  returned: success
  type: dict
objects:
  description: The VirtualService with what happened to it (C(updated) or C(unchanged)).
  returned: success
  type: list
  elements: dict
diff:
  description: The VirtualService before and after, keyed by C(VirtualService/<name>), when it changed.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._canary import run_route
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi_argument_spec, routing_argument_spec


def main():
    CanaryModule(dict(
        dict(routing_argument_spec(), **gatewayapi_argument_spec()),
        weight=dict(type="int"),
        match=dict(type="list", elements="dict"),
        mirror=dict(type="bool", default=False),
        mirror_weight=dict(type="int"),
        mirror_match=dict(type="list", elements="dict"),
        session_affinity=dict(type="dict", options=dict(
            cookie_name=dict(type="str", required=True, no_log=False),
            max_age=dict(type="int", default=86400),
        )),
    )).run(run_route)


if __name__ == "__main__":
    main()
