"""Fixtures for the analysis tests: an exporter the test controls, a real Prometheus scraping it,
bad-response HTTP servers (plain and TLS), and ways to run modules for real.

Everything listens on 127.0.0.1 with ports from the OS and is stopped by its fixture.
"""

import datetime
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from tests.lab.prometheus import Prometheus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --------------------------------------------------------------------------------------------
# An exporter whose counters grow at rates the test sets, so rate() gives known values.
# --------------------------------------------------------------------------------------------
class _Series(object):
    def __init__(self, per_second):
        self.per_second = float(per_second)
        # As if the counter had been running for 1000 s: rate()'s extrapolation is then never capped
        # at the counter's zero point, so every series of a ratio is extrapolated alike.
        self.base = 1000.0 * self.per_second
        self.since = time.time()

    def value(self, now):
        return self.base + self.per_second * (now - self.since)

    def set_rate(self, per_second, now):
        self.base = self.value(now)
        self.since = now
        self.per_second = float(per_second)


class Exporter(object):
    """``/metrics`` in the Prometheus text format; counters grow linearly at the rates set."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters = {}     # (name, ((label, value), ...)) -> _Series
        self._gauges = {}
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server naming)
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    def counter(self, name, labels, per_second):
        key = (name, tuple(sorted(labels.items())))
        now = time.time()
        with self._lock:
            if key in self._counters:
                self._counters[key].set_rate(per_second, now)
            else:
                self._counters[key] = _Series(per_second)

    def histogram(self, name, labels, buckets_per_second):
        """``buckets_per_second``: cumulative observations per second by ``le`` (the last one is +Inf)."""
        total = 0.0
        for le, per_second in buckets_per_second:
            self.counter(name + "_bucket", dict(labels, le=le), per_second)
            total = per_second
        self.counter(name + "_count", labels, total)

    def gauge(self, name, labels, value):
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = value

    def render(self):
        now = time.time()
        lines = []
        with self._lock:
            items = [(k, s.value(now)) for k, s in self._counters.items()] + list(self._gauges.items())
        for (name, labels), value in sorted(items):
            text = ",".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"')) for k, v in labels)
            lines.append("%s{%s} %r" % (name, text, float(value)))
        return "\n".join(lines) + "\n"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def prometheus_config(targets, interval="1s"):
    return (
        "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n"
        "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [%s]\n"
        % (interval, interval, interval, ", ".join('"%s"' % t for t in targets)))


@pytest.fixture(scope="module")
def exporter():
    exp = Exporter()
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def start_prometheus(tmp_path_factory):
    """``start_prometheus(exporter)`` -> a running Prometheus scraping it every second (stopped at module end)."""
    started = []

    def start(exp):
        prom = Prometheus(tmp_path_factory.mktemp("prometheus"), prometheus_config([exp.address]))
        prom.start()
        started.append(prom)
        return prom

    yield start
    for prom in started:
        prom.stop()


# --------------------------------------------------------------------------------------------
# A programmable HTTP(S) server for every bad answer a Prometheus URL can give.
# --------------------------------------------------------------------------------------------
class FakeServer(object):
    """Answers every request with ``self.respond(handler) -> (status, headers, body)`` (or None to hang up)."""

    def __init__(self, ssl_context=None):
        self.requests = []
        self.respond = lambda handler: (200, {"Content-Type": "application/json"},
                                        json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}))
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
                answer = server.respond(self)
                if answer is None:
                    self.close_connection = True
                    return
                status, headers, body = answer
                body = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        scheme = "https" if ssl_context else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.httpd.server_address[1])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    server = FakeServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, name):
        path = directory / name
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return str(path)

    def write_cert(c, name):
        path = directory / name
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return str(path)

    def cert(subject_cn, subject_key, issuer_name, issuer_key, ca=False, san=None, usage=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
                   .issuer_name(issuer_name)
                   .public_key(subject_key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
        else:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "analysis test CA")])
    ca_cert = cert("analysis test CA", ca_key, ca_name, ca_key, ca=True)
    server_key = key()
    server_cert = cert("127.0.0.1", server_key, ca_name, ca_key, san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                       usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    client_key = key()
    client_cert = cert("analysis client", client_key, ca_name, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return {
        "ca": write_cert(ca_cert, "ca.pem"),
        "server_cert": write_cert(server_cert, "server.pem"),
        "server_key": write_key(server_key, "server-key.pem"),
        "client_cert": write_cert(client_cert, "client.pem"),
        "client_key": write_key(client_key, "client-key.pem"),
    }


def tls_server(material, require_client_cert=False):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(material["server_cert"], material["server_key"])
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(material["ca"])
    return FakeServer(context)


class AppServer(object):
    """Every 5th request answers 500; every 10th takes ``slow`` seconds, the others ``fast``.

    HTTP/1.1, Nagle off and one write per response (lab notes pitfall 5), so the server keeps up with hey.
    """

    def __init__(self, fast=0.005, slow=0.1, hang_every=0, hang=2.0):
        self.count = 0
        self.requests = []
        self.lock = threading.Lock()
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with app.lock:
                    app.count += 1
                    n = app.count
                    app.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
                if hang_every and n % hang_every == 0:
                    time.sleep(hang)
                time.sleep(slow if n % 10 == 0 else fast)
                status = 500 if n % 5 == 0 else 200
                payload = b"error\n" if status == 500 else b"ok\n"
                head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n" % (status, len(payload))
                self.wfile.write(head.encode() + payload)

            do_GET = do_POST = do_PUT = handle_any

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Running modules: in-process through the module's main(), or through ansible-playbook.
# --------------------------------------------------------------------------------------------
def run_module(module, args, capsys, check_mode=False):
    """Run ``module.main()`` with ``args``; returns the result dict (``failed`` set when it failed)."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def ansible_env(extra=None):
    env = dict(os.environ)
    env["PATH"] = os.path.join(REPO, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".build", "collections")
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    env["ANSIBLE_LOCALHOST_WARNING"] = "false"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "false"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("PROMETHEUS_URL", None)
    env.update(extra or {})
    return env


def run_playbook(tmp_path, playbook_text, extra_env=None, args=(), timeout=180):
    """Run a playbook on localhost; returns ``(returncode, {task name: result}, raw json)``."""
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(playbook_text)
    ansible_playbook = shutil.which("ansible-playbook", path=os.path.join(REPO, ".venv", "bin")) or "ansible-playbook"
    proc = subprocess.run([ansible_playbook, "-i", "localhost,", "-c", "local", str(playbook)] + list(args),
                          cwd=str(tmp_path), env=ansible_env(extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)
    try:
        doc = json.loads(proc.stdout.decode())
    except ValueError:
        raise AssertionError("ansible-playbook did not print JSON (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout.decode(), proc.stderr.decode()))
    results = {}
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            results[task["task"]["name"]] = task["hosts"].get("localhost", {})
    return proc.returncode, results, doc
