"""The rollout role gated by metrics that are not Prometheus, through metric templates, on the session's lab
(real kube-apiserver, podinfo pods as real processes): a web/JMESPath metric from a JSON server on 127.0.0.1
(a template in rollout_metric_templates) and a SkyWalking-shaped metric (GraphQL answers shaped as SkyWalking's
query protocol, as tests/analysis/test_analysis_sources_http.py) from a template in a ConfigMap whose credential is
in a Secret. One canary, initialised once, goes through every step: bad template settings change nothing, then a
promotion and a rollback per source. No real SkyWalking OAP server runs here (docs/metric-sources.md)."""

import base64
import http.server
import json
import re
import threading

import pytest

pytestmark = pytest.mark.prometheus

TOKEN = "oap-t0ken-7d1e5c"
SW_QUERY = ('query q($duration: Duration!) { service_apdex: readMetricsValues(condition: {name: "service_apdex", entity: {scope: Service, '
            'serviceName: "$service_name", normal: true}}, duration: $duration) { label values { values { value isEmptyValue } } } }')


class Metrics(object):
    """GET /errors answers {"data": {"errorRate": <error_rate>}}; POST /graphql answers as an OAP server (its version,
    or the Apdex points ``apdex``); every request is recorded."""

    def __init__(self):
        self.error_rate, self.apdex, self.requests = 0.5, [9990, 9995], []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - the standard library's name
                owner.requests.append({"path": self.path, "headers": dict(self.headers)})
                self.answer({"data": {"errorRate": owner.error_rate}})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if body["query"].strip() == "query { version }":
                    return self.answer({"data": {"version": "10.2.0-test"}})
                points = [{"id": str(i), "value": value, "isEmptyValue": False} for i, value in enumerate(owner.apdex)]
                return self.answer({"data": {"service_apdex": {"label": None, "values": {"values": points}}}})

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def metrics():
    server = Metrics()
    yield server
    server.stop()


def web_settings(url):
    return {
        "rollout_metric_templates": {"app-errors": {
            "provider": {"type": "web", "address": url},
            "web": {"url": "/errors?app=$target&ns=$namespace&route=$route", "json_path": "data.errorRate"},
            "variables": {"route": None}}},
        "rollout_analysis": {"metrics": [{"name": "error-rate", "template_ref": {"name": "app-errors"},
                                          "template_variables": {"route": "/api"}, "threshold_range": {"max": 1}}]},
    }


def skywalking_settings():
    return {
        "rollout_metric_template_configmaps": [{"name": "metric-templates"}],
        "rollout_analysis": {"metrics": [{"name": "apdex", "template_ref": {"name": "skywalking-apdex"},
                                          "template_variables": {"service_name": "canary|podinfo|test|-"},
                                          "threshold_range": {"min": 9900}}]},
    }


def seen(canary):
    return canary.status(), canary.weights(), canary.replicas("podinfo"), canary.replicas("podinfo-primary"), canary.image("podinfo-primary")


def test_web_and_skywalking_metrics_through_templates_gate_the_rollout(canary, metrics):
    store, namespace = canary.cluster.store, canary.namespace
    name = "podinfo.%s" % namespace
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "metric-templates", "namespace": namespace},
                  "data": {"skywalking-apdex.yaml": json.dumps({
                      "provider": {"type": "skywalking", "secret_ref": {"name": "oap-credentials"}},
                      "skywalking": {"aggregate": "min"}, "query": SW_QUERY, "variables": {"service_name": None}}),
                      "broken-secret.yaml": "provider: {type: skywalking, secret_ref: {name: no-keys}}\nquery: '%s'\n" % SW_QUERY,
                      "README": "templates of the rollout tests"}})
    store.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oap-credentials", "namespace": namespace},
                  "data": {"address": base64.b64encode(metrics.url.encode()).decode(), "token": base64.b64encode(TOKEN.encode()).decode()}})
    store.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "no-keys", "namespace": namespace},
                  "data": {"apikey": base64.b64encode(b"x").decode()}})

    # (c) bad template settings name the variable and change nothing: status, weights, replicas, image
    canary.release("6.0.1")
    before = seen(canary)
    web = web_settings(metrics.url)
    bad = [
        (dict(web, rollout_metric_templates={"app-errors": {"provider": {"type": "graphite"}}}),
         "rollout_metric_templates.app-errors.provider.type must be one of prometheus, web, skywalking"),
        (dict(web, rollout_analysis={"metrics": [{"name": "error-rate", "template_ref": {"name": "app-error"}}]}),
         "metrics[0].template_ref names the metric template app-error, which does not exist (known templates: app-errors)"),
        (dict(web, rollout_analysis={"metrics": [{"name": "error-rate", "template_ref": {"name": "app-errors"}}]}),
         "template app-errors needs the variable route: set metrics[0].template_variables.route"),
        (dict(skywalking_settings(), rollout_metric_template_configmaps=[{"name": "missing-templates"}]),
         "metric_template_configmaps[0]: ConfigMap %s/missing-templates does not exist" % namespace),
        (dict(skywalking_settings(), rollout_analysis={"metrics": [{"name": "apdex", "template_ref": {"name": "broken-secret"}}]}),
         "Secret %s/no-keys (provider.secret_ref of template broken-secret" % namespace),
    ]
    for settings, words in bad:
        rc, out = canary.run(**settings)
        assert rc != 0 and words in out, (words, out[-3000:])
        assert seen(canary) == before
    assert not [r for r in metrics.requests if r["path"].startswith("/errors")]  # no bad run measured anything

    # (a) web/JMESPath: promoted while the error rate is within the threshold
    rc, out = canary.run(**web)
    assert rc == 0, out[-4000:]
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":6.0.1")
    assert metrics.requests[-1]["path"] == "/errors?app=podinfo&ns=%s&route=%%2Fapi" % namespace
    # ... and rolled back with the metric's message once it is out of range
    metrics.error_rate = 5
    canary.release("6.0.2")
    rc, out = canary.run(**web)
    assert rc != 0, out[-4000:]
    assert "Halt %s advancement error-rate 5.00 > 1" % name in out, out[-4000:]
    status = canary.status()
    assert status["phase"] == "Failed" and "failed checks threshold reached 2" in status["reason"], status
    assert canary.image("podinfo-primary").endswith(":6.0.1") and canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}

    # (b) SkyWalking from a ConfigMap's template, the OAP address and token from a Secret: promoted, then rolled back
    del metrics.requests[:]
    canary.release("6.0.3")
    rc, out = canary.run(**skywalking_settings())
    assert rc == 0, out[-4000:]
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":6.0.3")
    asked = [r for r in metrics.requests if r["path"] == "/graphql"]
    assert asked and all(r["headers"].get("Authorization") == "Bearer " + TOKEN for r in asked)
    assert 'serviceName: "canary|podinfo|test|-"' in asked[-1]["body"]["query"]
    assert TOKEN not in out
    metrics.apdex = [9990, 9000]
    canary.release("6.0.4")
    rc, out = canary.run(playbook="rollout", **skywalking_settings())
    assert rc != 0, out[-4000:]
    assert re.search(r"Halt %s advancement apdex 9000\.00 < 9900" % re.escape(name), out), out[-4000:]
    assert canary.status()["phase"] == "Failed" and canary.image("podinfo-primary").endswith(":6.0.3")
    assert TOKEN not in out
