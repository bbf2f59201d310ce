"""A real HTTP receiver on 127.0.0.1 for the modules that post (webhooks, alerts): ``POST /<status>[/<delay>]``
answers that status (after that many seconds), ``POST /answer/<key>`` the status the test set in
``answers[key]`` (403 until it does: a switch a test flips during a run), and every request is recorded
(path, headers, JSON body)."""

import http.server
import json
import threading
import time


class Receiver:
    """Answers POST /<status>[/<delay seconds>] with that status and records every request."""

    def __init__(self):
        self.requests = []
        self.answers = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] == "answer":
                    status = receiver.answers.get(parts[1], 403)
                else:
                    if len(parts) > 1:
                        time.sleep(float(parts[1]))
                    status = int(parts[0])
                text = ("refused: the token %s is not allowed here" % self.headers.get("Authorization", "")).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self, path):
        """The requests posted to ``path``, oldest first."""
        return [request for request in self.requests if request["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
