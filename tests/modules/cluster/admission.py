"""A validating admission webhook of the test's own, registered with the real API server: the policy a
cluster's admission controller (Kyverno, Gatekeeper, a webhook) would enforce, for one namespace.

``Webhook(lab).deny(rule)``: ``rule(kind, new, old)`` returns a reason to refuse a create or update
(dry run or not: the webhook declares no side effects, so the API server calls it for dry runs too),
or None. The API server answers a refusal with ``admission webhook "deny.lab.test" denied the request:
<reason>``.
"""

import base64
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.cluster import ApiError, wait_for
from tests.lab.real import pki

WEBHOOK = "deny.lab.test"
_PROBE = "admission-webhook-probe"


class Webhook:
    def __init__(self, lab):
        self.lab = lab
        self.rules = []
        self.config_name = "deny-" + lab.namespace
        self._server = None

    # the rules ------------------------------------------------------------------------------------
    def deny(self, rule):
        if self._server is None:
            self._start()
        self.rules.append(rule)

    def _review(self, review):
        request = review["request"]
        reason = None
        obj, old = request.get("object") or {}, request.get("oldObject")
        kind = request["kind"]["kind"]
        if kind == "ConfigMap" and (obj.get("metadata") or {}).get("name") == _PROBE:
            reason = "the webhook is in place"
        for rule in list(self.rules):
            reason = reason or rule(kind, obj, old)
        response = {"uid": request["uid"], "allowed": reason is None}
        if reason is not None:
            response["status"] = {"code": 400, "reason": "BadRequest", "message": reason}
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}

    # the server and its registration ---------------------------------------------------------------
    def _start(self):
        directory = tempfile.mkdtemp(prefix="webhook-")
        paths = pki.generate(directory)
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server interface
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body = json.dumps(webhook._review(review)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths["apiserver.crt"], paths["apiserver.key"])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        with open(paths["ca.crt"], "rb") as handle:
            ca_bundle = base64.b64encode(handle.read()).decode()
        self.lab.store.create({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.config_name},
            "webhooks": [{
                "name": WEBHOOK,
                "clientConfig": {"url": "https://127.0.0.1:%d/validate" % server.server_address[1], "caBundle": ca_bundle},
                "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"],
                           "scope": "Namespaced"}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.lab.namespace}},
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
            }],
        })
        wait_for(self._in_place, 30, "the API server calling the webhook %s" % self.config_name, interval=0.2)

    def _in_place(self):
        """A dry-run create the webhook always refuses: refused once the API server calls it."""
        probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": _PROBE, "namespace": self.lab.namespace}}
        resource = self.lab.store.resource("v1", "ConfigMap")
        try:
            self.lab.store._call(lambda: resource.create(body=probe, namespace=self.lab.namespace, dry_run="All"))
        except ApiError as exc:
            return WEBHOOK in str(exc)
        return False

    def stop(self):
        if self._server is None:
            return
        self.lab.store.delete("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", None, self.config_name)
        self._server.shutdown()
        self._server.server_close()
