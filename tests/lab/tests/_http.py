"""A raw HTTP client for the emulated API server (what the tests check is the wire format)."""

import json
import urllib.error
import urllib.request


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "Response(%d, %s)" % (self.status, self.raw[:300])


def call(cluster, method, path, body=None, content_type="application/json", token=True):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(cluster.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token is True:
        request.add_header("Authorization", "Bearer " + cluster.token)
    elif token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


def deployment(name="web", namespace="default", replicas=2, image="example/web:1.0", **spec):
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                                         "env": [{"name": "A", "value": "1"}]}]},
            },
        },
    }
    body["spec"].update(spec)
    return body


def virtual_service(name="web", namespace="default", routes=None, api_version="networking.istio.io/v1", **http):
    if routes is None:
        routes = [{"destination": {"host": "web-primary"}, "weight": 100}, {"destination": {"host": "web-canary"}, "weight": 0}]
    route = {"route": routes}
    route.update(http)
    return {
        "apiVersion": api_version,
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": ["web"], "http": [route]},
    }
