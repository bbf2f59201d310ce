"""A minimal client for the real API server (requests, bearer token, the lab's CA)."""

import json
from typing import Optional

import requests


class ApiError(RuntimeError):
    def __init__(self, code: int, message: str):
        super().__init__("%s %s" % (code, message))
        self.code = code


class Kube:
    def __init__(self, url: str, token: str, ca_file: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer %s" % token
        self.session.verify = ca_file
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE (set here) overrides verify, and proxies apply

    def request(self, method: str, path: str, body=None, content_type: str = "application/json", params=None,
                ok404: bool = False, timeout: float = 10) -> Optional[dict]:
        data = json.dumps(body) if body is not None else None
        response = self.session.request(method, self.url + path, data=data, params=params, timeout=timeout,
                                        headers={"Content-Type": content_type} if data is not None else None)
        if response.status_code == 404 and ok404:
            return None
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.text[:500])
        return response.json() if response.content else None

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body, kind: str = "merge", **kw):
        types = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json"}
        return self.request("PATCH", path, body, content_type=types[kind], **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, ok404=True, **kw)

    def apply(self, path_collection: str, obj: dict) -> dict:
        """Create, or replace the existing object (keeping its resourceVersion)."""
        name = obj["metadata"]["name"]
        try:
            return self.post(path_collection, obj)
        except ApiError as exc:
            if exc.code != 409:
                raise
        current = self.get("%s/%s" % (path_collection, name))
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=current["metadata"]["resourceVersion"]))
        return self.put("%s/%s" % (path_collection, name), obj)
