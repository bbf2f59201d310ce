"""The Istio -> Envoy translator as pure functions (no processes)."""

import json

import pytest

from tests.lab.mesh.translate import DEFAULT_RETRY, duration, fqdn, translate, workload_of

NS = "test"
PATHS = {"mesh": "/x/rds-mesh.json", "ingress": "/x/rds-ingress.json"}


def service(name, selector, ports=(("http", 9898),), namespace=NS):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports]}}


def pod(name, labels, deployment, template_hash="abc12"):
    labels = dict(labels, **{"pod-template-hash": template_hash})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels,
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "%s-%s" % (deployment, template_hash), "controller": True}]}}


def endpoints(name, pods_ports, port_name="http"):
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": NS},
            "subsets": [{"addresses": [{"ip": "127.0.0.1", "targetRef": {"kind": "Pod", "namespace": NS, "name": p}}],
                         "ports": [{"name": port_name, "port": port}]} for p, port in pods_ports]}


def vs(spec, name="podinfo", namespace=NS, created="2026-01-01T00:00:00Z"):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": spec}


def base_state(**extra):
    state = {
        "services": [service("podinfo", {"app": "podinfo-primary"}), service("podinfo-primary", {"app": "podinfo-primary"}),
                     service("podinfo-canary", {"app": "podinfo"})],
        "pods": [pod("podinfo-primary-abc12-x", {"app": "podinfo-primary", "version": "v1"}, "podinfo-primary"),
                 pod("podinfo-def34-y", {"app": "podinfo", "version": "v2"}, "podinfo", "def34")],
        "endpoints": [endpoints("podinfo", [("podinfo-primary-abc12-x", 40001)]),
                      endpoints("podinfo-primary", [("podinfo-primary-abc12-x", 40001)]),
                      endpoints("podinfo-canary", [("podinfo-def34-y", 40002)])],
        "destinationrules": [], "virtualservices": [], "gateways": [],
    }
    for key, value in extra.items():
        state[key] = value
    return state


def run(state):
    result = translate(state, 15001, 15002, PATHS)
    json.dumps(result)  # everything is plain JSON
    return result


def clusters(result):
    return {c["name"]: c for c in result["cds"]["resources"]}


def ports_of(cluster):
    return [e["endpoint"]["address"]["socket_address"]["port_value"] for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]


def vhost(result, domain, route="rds_mesh"):
    config = result[route]["resources"][0]
    found = [v for v in config["virtual_hosts"] if domain in v["domains"]]
    assert len(found) == 1, (domain, [v["domains"] for v in config["virtual_hosts"]])
    return found[0]


def test_host_resolution_and_durations():
    assert fqdn("podinfo", "test") == "podinfo.test.svc.cluster.local"
    assert fqdn("podinfo.other", "test") == "podinfo.other.svc.cluster.local"
    assert fqdn("podinfo.other.svc", "test") == "podinfo.other.svc.cluster.local"
    assert fqdn("app.example.com", "test") == "app.example.com"
    assert duration("1.5s") == "1.5s" and duration("100ms") == "0.1s" and duration("1m30s") == "90s"
    with pytest.raises(ValueError):
        duration("10 seconds")


def test_services_get_istio_named_clusters_and_default_routes():
    result = run(base_state())
    names = clusters(result)
    assert ports_of(names["outbound|9898||podinfo-canary.test.svc.cluster.local"]) == [40002]
    assert ports_of(names["outbound|9898||podinfo.test.svc.cluster.local"]) == [40001]
    host = vhost(result, "podinfo.test")
    assert set(host["domains"]) >= {"podinfo.test", "podinfo.test.svc", "podinfo.test.svc.cluster.local", "podinfo.test:9898",
                                    "podinfo.test.svc.cluster.local:9898"}
    [route] = host["routes"]
    assert route["route"]["cluster"] == "outbound|9898||podinfo.test.svc.cluster.local"
    assert route["route"]["timeout"] == "0s"  # Istio disables Envoy's 15 s default
    assert route["route"]["retry_policy"] == DEFAULT_RETRY
    assert result["rds_mesh"]["resources"][0]["validate_clusters"] is True
    assert result["workloads"]["outbound|9898||podinfo.test.svc.cluster.local"]["workload"] == "podinfo-primary"
    assert result["workloads"]["outbound|9898||podinfo-canary.test.svc.cluster.local"]["workload"] == "podinfo"


def test_all_domains_are_unique_per_route_config():
    state = base_state(virtualservices=[vs({"hosts": ["podinfo", "podinfo.test", "app.example.com"],
                                            "http": [{"route": [{"destination": {"host": "podinfo-primary"}}]}]})])
    result = run(state)
    domains = [d for v in result["rds_mesh"]["resources"][0]["virtual_hosts"] for d in v["domains"]]
    assert len(domains) == len(set(domains))
    assert vhost(result, "app.example.com")["routes"][0]["route"]["cluster"] == "outbound|9898||podinfo-primary.test.svc.cluster.local"


def test_weights_are_relative_and_zero_weights_dropped():
    spec = {"hosts": ["podinfo"], "http": [{"route": [
        {"destination": {"host": "podinfo-primary"}, "weight": 90},
        {"destination": {"host": "podinfo-canary"}, "weight": 10}]}]}
    [route] = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "outbound|9898||podinfo-primary.test.svc.cluster.local", "weight": 90},
        {"name": "outbound|9898||podinfo-canary.test.svc.cluster.local", "weight": 10}]
    spec["http"][0]["route"][0]["weight"], spec["http"][0]["route"][1]["weight"] = 3, 1
    [route] = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert [c["weight"] for c in route["route"]["weighted_clusters"]["clusters"]] == [3, 1]
    spec["http"][0]["route"][0]["weight"], spec["http"][0]["route"][1]["weight"] = 100, 0
    [route] = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert route["route"]["weighted_clusters"]["clusters"] == [{"name": "outbound|9898||podinfo-primary.test.svc.cluster.local", "weight": 100}]


def test_header_cookie_uri_matches_keep_route_order():
    spec = {"hosts": ["podinfo"], "http": [
        {"name": "insiders", "match": [{"headers": {"X-Canary": {"exact": "insider"}}}, {"headers": {"cookie": {"regex": r"^(.*?;\s*)?(canary=always)(;.*)?$"}}}],
         "route": [{"destination": {"host": "podinfo-canary"}}]},
        {"match": [{"uri": {"prefix": "/api"}, "queryParams": {"debug": {"exact": "1"}}, "method": {"exact": "GET"}}],
         "rewrite": {"uri": "/"}, "route": [{"destination": {"host": "podinfo-canary"}}]},
        {"match": [{"uri": {"regex": "/v[0-9]+"}, "ignoreUriCase": True}], "route": [{"destination": {"host": "podinfo-canary"}}]},
        {"route": [{"destination": {"host": "podinfo-primary"}}]}]}
    routes = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert [r["name"] for r in routes] == ["insiders", "insiders", "podinfo.test.1", "podinfo.test.2", "podinfo.test.3"]
    assert routes[0]["match"] == {"prefix": "/", "headers": [{"name": "x-canary", "string_match": {"exact": "insider"}}]}
    assert routes[1]["match"]["headers"] == [{"name": "cookie", "string_match": {"safe_regex": {"regex": r"^(.*?;\s*)?(canary=always)(;.*)?$"}}}]
    assert routes[2]["match"] == {"prefix": "/api", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
                                  "query_parameters": [{"name": "debug", "string_match": {"exact": "1"}}]}
    assert routes[2]["route"]["prefix_rewrite"] == "/"
    assert routes[3]["match"] == {"safe_regex": {"regex": "/v[0-9]+"}, "case_sensitive": False}
    assert routes[4]["match"] == {"prefix": "/"}


def test_source_labels_never_match_lab_clients():
    spec = {"hosts": ["podinfo"], "http": [
        {"match": [{"sourceLabels": {"app": "frontend"}}], "route": [{"destination": {"host": "podinfo-canary"}}]},
        {"route": [{"destination": {"host": "podinfo-primary"}}]}]}
    routes = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert len(routes) == 1 and routes[0]["route"]["cluster"].endswith("podinfo-primary.test.svc.cluster.local")


def test_subsets_select_endpoints_by_pod_labels():
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "podinfo", "namespace": NS},
            "spec": {"host": "podinfo", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}},
                     "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}}
    state = base_state(destinationrules=[rule], virtualservices=[vs({"hosts": ["podinfo"], "http": [{"route": [
        {"destination": {"host": "podinfo", "subset": "v1"}, "weight": 80},
        {"destination": {"host": "podinfo", "subset": "v2"}, "weight": 20},
        {"destination": {"host": "podinfo", "subset": "missing"}, "weight": 5}]}]})])
    # The apex Service selects both workloads here.
    state["services"][0]["spec"]["selector"] = {}
    state["endpoints"][0] = endpoints("podinfo", [("podinfo-primary-abc12-x", 40001), ("podinfo-def34-y", 40002)])
    result = run(state)
    names = clusters(result)
    assert ports_of(names["outbound|9898|v1|podinfo.test.svc.cluster.local"]) == [40001]
    assert ports_of(names["outbound|9898|v2|podinfo.test.svc.cluster.local"]) == [40002]
    assert ports_of(names["outbound|9898|missing|podinfo.test.svc.cluster.local"]) == []
    assert names["outbound|9898|v2|podinfo.test.svc.cluster.local"]["lb_policy"] == "LEAST_REQUEST"
    assert result["workloads"]["outbound|9898|v2|podinfo.test.svc.cluster.local"]["workload"] == "podinfo"


def test_unknown_destination_gets_an_empty_cluster_not_an_invalid_route():
    state = base_state(virtualservices=[vs({"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "nothere", "port": {"number": 80}}}]}]})])
    result = run(state)
    assert ports_of(clusters(result)["outbound|80||nothere.test.svc.cluster.local"]) == []


def test_mirror_retries_timeout_headers_fault():
    spec = {"hosts": ["podinfo"], "http": [{
        "route": [{"destination": {"host": "podinfo-primary"}, "weight": 100, "headers": {"request": {"set": {"x-dest": "p"}}}},
                  {"destination": {"host": "podinfo-canary"}, "weight": 0}],
        "mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 12.5},
        "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure,503"},
        "timeout": "5s",
        "headers": {"request": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c"]}, "response": {"remove": ["server"]}},
        "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 10}}, "delay": {"fixedDelay": "200ms", "percentage": {"value": 50}}},
    }]}
    [route] = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    action = route["route"]
    assert action["request_mirror_policies"] == [{"cluster": "outbound|9898||podinfo-canary.test.svc.cluster.local",
                                                  "runtime_fraction": {"default_value": {"numerator": 125000, "denominator": "MILLION"}}}]
    assert action["retry_policy"] == {"num_retries": 3, "retry_on": "gateway-error,connect-failure,retriable-status-codes",
                                      "retriable_status_codes": [503], "per_try_timeout": "1s"}
    assert action["timeout"] == "5s"
    assert action["weighted_clusters"]["clusters"][0]["request_headers_to_add"] == [
        {"header": {"key": "x-dest", "value": "p"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]
    assert route["request_headers_to_add"] == [{"header": {"key": "x-a", "value": "1"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
                                               {"header": {"key": "x-b", "value": "2"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}]
    assert route["request_headers_to_remove"] == ["x-c"] and route["response_headers_to_remove"] == ["server"]
    fault = route["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["abort"] == {"http_status": 500, "percentage": {"numerator": 100000, "denominator": "MILLION"}}
    assert fault["delay"]["fixed_delay"] == "0.2s"


def test_route_and_single_destination_header_operations_combine():
    spec = {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo-primary"}, "headers": {"request": {"set": {"x-dest": "p"}}}}],
                                            "headers": {"request": {"set": {"x-route": "r"}}}}]}
    [route] = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert [h["header"]["key"] for h in route["request_headers_to_add"]] == ["x-dest", "x-route"]


def test_zero_attempts_disable_retries_and_mirror_defaults_to_all():
    spec = {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo-primary"}}], "retries": {"attempts": 0},
                                            "mirror": {"host": "podinfo-canary"}}]}
    [route] = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    assert "retry_policy" not in route["route"]
    assert route["route"]["request_mirror_policies"][0]["runtime_fraction"]["default_value"]["numerator"] == 1000000


def test_gateway_binding():
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "public-gateway", "namespace": "istio-system"},
               "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
    bound = vs({"hosts": ["app.example.com", "podinfo"], "gateways": ["istio-system/public-gateway"],
                "http": [{"route": [{"destination": {"host": "podinfo-canary"}}]}]})
    missing_gateway = vs({"hosts": ["other.example.com"], "gateways": ["nope"], "http": [{"route": [{"destination": {"host": "podinfo-canary"}}]}]},
                         name="other")
    result = run(base_state(gateways=[gateway], virtualservices=[bound, missing_gateway]))
    host = vhost(result, "app.example.com", "rds_ingress")
    assert "app.example.com:*" in host["domains"]
    assert host["routes"][0]["route"]["cluster"] == "outbound|9898||podinfo-canary.test.svc.cluster.local"
    ingress_domains = [d for v in result["rds_ingress"]["resources"][0]["virtual_hosts"] for d in v["domains"]]
    assert "other.example.com" not in ingress_domains
    # Bound only to a gateway: the mesh keeps routing podinfo straight to its Service.
    assert vhost(result, "podinfo.test")["routes"][0]["route"]["cluster"] == "outbound|9898||podinfo.test.svc.cluster.local"


def test_oldest_virtual_service_wins_a_host():
    old = vs({"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo-primary"}}]}]}, name="a", created="2026-01-01T00:00:00Z")
    new = vs({"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo-canary"}}]}]}, name="b", created="2026-01-02T00:00:00Z")
    [route] = vhost(run(base_state(virtualservices=[new, old])), "podinfo.test")["routes"]
    assert route["route"]["cluster"].endswith("podinfo-primary.test.svc.cluster.local")


def test_multi_port_services_route_by_port():
    state = base_state()
    state["services"].append(service("multi", {"app": "podinfo"}, ports=(("http", 9898), ("http-metrics", 9797))))
    state["endpoints"].append({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "multi", "namespace": NS},
                               "subsets": [{"addresses": [{"ip": "127.0.0.1", "targetRef": {"kind": "Pod", "namespace": NS, "name": "podinfo-def34-y"}}],
                                            "ports": [{"name": "http", "port": 40002}, {"name": "http-metrics", "port": 40003}]}]})
    result = run(state)
    assert vhost(result, "multi.test")["routes"][0]["route"]["cluster"] == "outbound|9898||multi.test.svc.cluster.local"
    assert vhost(result, "multi.test:9797")["routes"][0]["route"]["cluster"] == "outbound|9797||multi.test.svc.cluster.local"
    assert ports_of(clusters(result)["outbound|9797||multi.test.svc.cluster.local"]) == [40003]


def test_workload_name_from_replicaset_owner():
    assert workload_of(pod("podinfo-primary-7d9f-abc", {}, "podinfo-primary", "7d9f")) == ("podinfo-primary", NS)
    bare = {"metadata": {"name": "solo", "namespace": NS}}
    assert workload_of(bare) == ("solo", NS)


def test_listeners_use_rds_files():
    result = run(base_state())
    listeners = {item["name"]: item for item in result["lds"]["resources"]}
    hcm = listeners["mesh"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["rds"]["config_source"]["path_config_source"]["path"] == PATHS["mesh"]
    assert listeners["ingress"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 15002}


def _only_match(http_route, context="mesh"):
    spec = {"hosts": ["podinfo"], "http": [dict(http_route, route=[{"destination": {"host": "podinfo-canary"}}]),
                                           {"name": "rest", "route": [{"destination": {"host": "podinfo-primary"}}]}]}
    routes = vhost(run(base_state(virtualservices=[vs(spec)])), "podinfo.test")["routes"]
    return [r["match"] for r in routes if r["name"] != "rest"]


def test_without_headers_match_requests_that_lack_the_header_as_istiod_writes_it():
    # istiod sets treat_missing_header_as_empty on an inverted string matcher: a request without the
    # header is "not matching" it, so withoutHeaders lets it through. A present-match stays as it is.
    [match] = _only_match({"match": [{"withoutHeaders": {"x-legacy": {"exact": "1"}, "x-debug": {}}}]})
    assert match["headers"] == [
        {"name": "x-debug", "invert_match": True, "present_match": True},
        {"name": "x-legacy", "invert_match": True, "string_match": {"exact": "1"}, "treat_missing_header_as_empty": True},
    ]


def test_regex_star_is_a_present_match_as_in_istiod():
    # `*` is not RE2 (Envoy would reject the route); istiod turns it into present_match.
    [match] = _only_match({"match": [{"headers": {"x-beta": {"regex": "*"}}, "queryParams": {"debug": {"regex": "*"}},
                                      "withoutHeaders": {"x-old": {"regex": "*"}}}]})
    assert match["headers"] == [{"name": "x-beta", "present_match": True}, {"name": "x-old", "invert_match": True, "present_match": True}]
    assert match["query_parameters"] == [{"name": "debug", "present_match": True}]


def test_a_condition_naming_gateways_ignores_source_labels_as_istiod_does():
    # istiod's sourceMatchHTTP: with gateways set only the gateways are checked; sourceLabels and
    # sourceNamespace are ignored (the Istio API: "The gateway match is independent of sourceLabels").
    assert _only_match({"match": [{"gateways": ["mesh"], "sourceLabels": {"app": "frontend"}, "headers": {"x": {"exact": "1"}}}]}) == [
        {"prefix": "/", "headers": [{"name": "x", "string_match": {"exact": "1"}}]}]
    assert _only_match({"match": [{"gateways": ["mesh"], "sourceNamespace": "other"}]}) == [{"prefix": "/"}]
    assert _only_match({"match": [{"gateways": ["public-gateway"], "sourceLabels": {"app": "frontend"}}]}) == []
    assert _only_match({"match": [{"sourceLabels": {"app": "frontend"}}, {"sourceNamespace": "test"}]}) == []
