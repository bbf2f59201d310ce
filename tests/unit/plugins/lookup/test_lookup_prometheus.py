"""The prometheus lookup with open_url patched at the edge (real servers: tests/analysis)."""

import io
import json
import math
import urllib.error
import urllib.parse

import pytest
from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import prometheus as prom

URL = "http://prometheus.test:9090"


class FakeResponse(io.BytesIO):
    def __init__(self, body, code=200):
        super(FakeResponse, self).__init__(body)
        self.code = code

    def getcode(self):
        return self.code


@pytest.fixture
def answers(monkeypatch):
    """Patch open_url; tests append responses (dict -> JSON 200, bytes -> 200 body, Exception -> raised)."""
    calls = []
    queue = []

    def fake_open_url(url, **kwargs):
        calls.append(dict(kwargs, url=url))
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, dict):
            answer = json.dumps(answer).encode()
        return FakeResponse(answer)

    monkeypatch.setattr(prom, "open_url", fake_open_url)
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    return queue, calls


def vector(*series):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels, "value": [1700000000.5, value]} for labels, value in series]}}


def lookup():
    return lookup_loader.get("progressive.delivery.prometheus")


def test_one_series_gives_a_float_and_the_query_is_sent(answers):
    queue, calls = answers
    queue.append(vector(({"job": "a"}, "80")))
    assert lookup().run(['sum(up{job="a"})'], variables={}, url=URL) == [80.0]
    sent = urllib.parse.urlsplit(calls[0]["url"])
    assert sent.path == "/api/v1/query"
    assert urllib.parse.parse_qs(sent.query) == {"query": ['sum(up{job="a"})']}
    assert calls[0]["timeout"] == 5.0 and calls[0]["validate_certs"] is True


def test_url_from_environment_and_auth_and_headers(answers, monkeypatch):
    queue, calls = answers
    monkeypatch.setenv("PROMETHEUS_URL", URL + "/prefix/")
    queue.append({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}})
    assert lookup().run(["1+1"], variables={}, bearer_token="s3cret", headers={"X-Scope-OrgID": "t1"}, timeout=2.5,
                        time="2026-01-01T00:00:00Z") == [2.0]
    call = calls[0]
    assert call["url"].startswith(URL + "/prefix/api/v1/query?")
    assert "time=2026-01-01T00%3A00%3A00Z" in call["url"]
    assert call["headers"]["Authorization"] == "Bearer s3cret" and call["headers"]["X-Scope-OrgID"] == "t1"
    assert call["timeout"] == 2.5


def test_basic_auth_and_tls_options_reach_open_url(answers, tmp_path):
    queue, calls = answers
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    queue.append(vector(({}, "1")))
    lookup().run(["up"], variables={}, url=URL, username="u", password="p", ca_path=str(ca), validate_certs=False)
    call = calls[0]
    assert (call["url_username"], call["url_password"], call["force_basic_auth"]) == ("u", "p", True)
    assert call["ca_path"] == str(ca) and call["validate_certs"] is False
    assert "Authorization" not in call["headers"]


def test_raw_returns_every_sample(answers):
    queue = answers[0]
    queue.append(vector(({"w": "podinfo"}, "1.5"), ({"w": "podinfo-primary"}, "NaN")))
    [out] = lookup().run(["up"], variables={}, url=URL, raw=True)
    assert out[0] == {"metric": {"w": "podinfo"}, "value": 1.5, "timestamp": 1700000000.5}
    assert math.isnan(out[1]["value"])


def test_several_series_without_raw_is_an_error_listing_labels(answers):
    queue = answers[0]
    queue.append(vector(({"w": "podinfo"}, "1"), ({"w": "podinfo-primary"}, "2")))
    with pytest.raises(AnsibleLookupError, match=r'2 series.*\{w="podinfo"\} = 1.*\{w="podinfo-primary"\} = 2'):
        lookup().run(["up"], variables={}, url=URL)


def test_no_data_is_an_error_or_none(answers):
    queue = answers[0]
    queue.extend([vector(), vector(({}, "NaN")), vector()])
    with pytest.raises(AnsibleLookupError, match="no data for up: the query returned an empty result"):
        lookup().run(["up"], variables={}, url=URL)
    assert lookup().run(["up", "up"], variables={}, url=URL, on_no_data="none") == [None, None]


def test_variables_are_rendered_and_escaped(answers):
    queue, calls = answers
    queue.append(vector(({}, "3")))
    lookup().run(['up{namespace="$ns"}'], variables={}, url=URL, template_variables={"ns": 'x"} or vector(1)'})
    sent = urllib.parse.parse_qs(urllib.parse.urlsplit(calls[0]["url"]).query)["query"][0]
    assert sent == 'up{namespace="x\\"} or vector(1)"}'


def test_errors_are_lookup_errors_with_the_reason(answers):
    queue = answers[0]
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "1:8: parse error: unclosed left parenthesis"}).encode()
    queue.append(urllib.error.HTTPError(URL, 400, "Bad Request", {}, io.BytesIO(body)))
    with pytest.raises(AnsibleLookupError, match=r"prometheus lookup: .*HTTP 400, bad_data\): 1:8: parse error: unclosed left parenthesis"):
        lookup().run(["sum(up"], variables={}, url=URL)
    queue.append(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    with pytest.raises(AnsibleLookupError, match="connection refused by http://prometheus.test:9090"):
        lookup().run(["up"], variables={}, url=URL)


def test_missing_url_and_conflicting_auth_are_clear(answers):
    with pytest.raises(AnsibleLookupError, match=r"URL is not set: give url \(prometheus.url in modules\) or set the environment variable PROMETHEUS_URL"):
        lookup().run(["up"], variables={})
    with pytest.raises(AnsibleLookupError, match="either bearer_token or username/password"):
        lookup().run(["up"], variables={}, url=URL, bearer_token="t", username="u")
    with pytest.raises(AnsibleLookupError, match="not an http:// or https:// URL"):
        lookup().run(["up"], variables={}, url="prometheus:9090")
