"""The part of the kubelet's API the API server calls for ``pods/log``: ``GET /containerLogs/NS/POD/CONTAINER``.

A real kubelet serves it over HTTPS on the node's address (port 10250), with a certificate the API server checks
against ``--kubelet-certificate-authority``, and takes the API server's client certificate
(``--kubelet-client-certificate``). This one does the same on the lab bridge's address, with certificates of the
lab's CA, so ``kubectl logs``, ``pods/log`` and canary_wait's culprit log lines are the real path. It reads the
node agent's log file of the container (``DIR/logs/pods/NS_POD_CONTAINER.log``, every instance appended) and the
byte offset where each instance began, so ``previous=true`` is the instance before the running one, as a kubelet
keeps it. Everything else of the kubelet API (exec, attach, port-forward, stats) answers 404.
"""

import http.server
import logging
import os
import ssl
import threading
import urllib.parse
from typing import Callable, List, Optional, Tuple

log = logging.getLogger("tests.lab.real.kubelet_api")


class LogNotFound(LookupError):
    """No such pod or container, or no previous instance: the kubelet's 404/400 messages."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def read_log(path: str, starts: List[int], running: bool, previous: bool = False, tail_lines: Optional[int] = None,
             limit_bytes: Optional[int] = None) -> bytes:
    """The bytes of one instance of a container from the log file where every instance is appended (``starts``: the
    offsets where the instances began, oldest first). Without ``previous`` the last instance; with it the terminated
    one before the running instance, or the last one when none runs (a container waiting in CrashLoopBackOff), as a
    kubelet answers from the container's lastState. ``tail_lines`` keeps the last lines, then ``limit_bytes`` the
    first bytes of those, in the kubelet's order."""
    if previous:
        index = -2 if running else -1
        if len(starts) < -index:
            raise LogNotFound("previous terminated container not found", 400)
    else:
        if not starts:
            raise LogNotFound("container has not started", 400)
        index = -1
    begin = starts[index]
    end = starts[index + 1] if index + 1 < 0 else None
    with open(path, "rb") as handle:
        handle.seek(begin)
        data = handle.read() if end is None else handle.read(end - begin)
    if tail_lines is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data


def _int(query: dict, name: str) -> Optional[int]:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    value = int(values[0])
    if value < 0:
        raise ValueError("%s must not be negative" % name)
    return value


class KubeletApi:
    """HTTPS with client certificates of the lab's CA on ``address``; ``find(namespace, pod, container)`` answers
    ``(log path, instance offsets, running)`` or raises LogNotFound."""

    def __init__(self, address: str, port: int, cert: str, key: str, ca: str,
                 find: Callable[[str, str, str], Tuple[str, List[int], bool]]):
        self.address, self.port, self.find = address, port, find
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED  # the API server's kubelet client certificate, as a kubelet asks
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                api.answer(self)

            def log_message(self, fmt, *args):
                log.debug("kubelet api: " + fmt, *args)

        self.server = http.server.ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="kubelet-api")
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request) -> None:
        url = urllib.parse.urlsplit(request.path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._send(request, 404, b"the lab's node agent serves only /containerLogs/NAMESPACE/POD/CONTAINER\n")
            return
        _, namespace, pod, container = parts
        query = urllib.parse.parse_qs(url.query)
        try:
            previous = (query.get("previous") or ["false"])[0] == "true"
            tail_lines, limit_bytes = _int(query, "tailLines"), _int(query, "limitBytes")
            path, starts, running = self.find(namespace, pod, container)
            data = read_log(path, starts, running, previous=previous, tail_lines=tail_lines, limit_bytes=limit_bytes)
        except ValueError as exc:
            self._send(request, 400, ("%s\n" % exc).encode())
            return
        except LogNotFound as exc:
            self._send(request, exc.status, ('%s: container "%s" in pod "%s"\n' % (exc, container, pod)).encode())
            return
        except OSError as exc:
            self._send(request, 500, ("cannot read the log: %s\n" % exc).encode())
            return
        self._send(request, 200, data)

    @staticmethod
    def _send(request, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


def log_file(log_dir: str, namespace: str, pod: str, container: str) -> str:
    return os.path.join(log_dir, "%s_%s_%s.log" % (namespace, pod, container))
