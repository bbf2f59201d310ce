"""The lab node agent's kubelet API (containerLogs): which instance a log read returns, tailLines and limitBytes, and
the HTTPS server with the lab CA's certificates on both sides, as the API server calls it."""

import ssl
import urllib.error
import urllib.request

import pytest

from tests.lab.common import free_port
from tests.lab.real import pki
from tests.lab.real.kubelet_api import KubeletApi, LogNotFound, read_log

FIRST, SECOND, THIRD = b"one\ntwo\n", b"three\nfour\nfive\n", b"six\n"


@pytest.fixture
def appended(tmp_path):
    """A container's log file with three instances appended, and where each began."""
    path = tmp_path / "test_podinfo-1_podinfod.log"
    path.write_bytes(FIRST + SECOND + THIRD)
    return str(path), [0, len(FIRST), len(FIRST + SECOND)]


def test_the_current_instance_and_the_previous_one_of_a_running_container(appended):
    path, starts = appended
    assert read_log(path, starts, running=True) == THIRD
    assert read_log(path, starts, running=True, previous=True) == SECOND


def test_a_container_waiting_to_restart_shows_its_last_instance_as_the_previous_one(appended):
    path, starts = appended
    assert read_log(path, starts, running=False, previous=True) == THIRD
    assert read_log(path, starts[:1], running=False, previous=True) == FIRST + SECOND + THIRD


def test_tail_lines_then_limit_bytes(appended):
    path, starts = appended
    assert read_log(path, starts, running=True, previous=True, tail_lines=2) == b"four\nfive\n"
    assert read_log(path, starts, running=True, previous=True, tail_lines=2, limit_bytes=6) == b"four\nf"
    assert read_log(path, starts, running=True, previous=True, tail_lines=0) == b""


def test_no_previous_instance_is_the_kubelets_400(appended):
    path, starts = appended
    with pytest.raises(LogNotFound) as error:
        read_log(path, starts[:1], running=True, previous=True)
    assert error.value.status == 400 and "previous terminated container not found" in str(error.value)


@pytest.fixture
def server(tmp_path, appended):
    paths = pki.generate(str(tmp_path / "pki"))
    node = pki.issue_node_certificate(str(tmp_path / "pki"), "lab-node", "127.0.0.1")
    path, starts = appended

    def find(namespace, pod, container):
        if (namespace, pod, container) != ("test", "podinfo-1", "podinfod"):
            raise LogNotFound('pod "%s" not found on node lab-node' % pod)
        return path, starts, True

    api = KubeletApi("127.0.0.1", free_port(), node["node.crt"], node["node.key"], paths["ca.crt"], find)
    api.start()
    yield api, paths
    api.stop()


def client(paths, with_certificate=True):
    context = ssl.create_default_context(cafile=paths["ca.crt"])
    if with_certificate:
        context.load_cert_chain(paths["apiserver-kubelet-client.crt"], paths["apiserver-kubelet-client.key"])
    return context


def get(api, paths, path, with_certificate=True):
    url = "https://127.0.0.1:%d%s" % (api.port, path)
    try:
        with urllib.request.urlopen(url, context=client(paths, with_certificate), timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_api_servers_client_certificate_reads_a_log_over_https(server):
    api, paths = server
    assert get(api, paths, "/containerLogs/test/podinfo-1/podinfod?tailLines=1") == (200, THIRD)
    assert get(api, paths, "/containerLogs/test/podinfo-1/podinfod?previous=true&limitBytes=5") == (200, b"three")


def test_unknown_pods_paths_and_bad_numbers_are_refused(server):
    api, paths = server
    status, body = get(api, paths, "/containerLogs/test/gone/podinfod")
    assert status == 404 and b'pod "gone" not found on node lab-node' in body
    assert get(api, paths, "/exec/test/podinfo-1/podinfod")[0] == 404
    status, body = get(api, paths, "/containerLogs/test/podinfo-1/podinfod?tailLines=-1")
    assert status == 400 and b"tailLines must not be negative" in body


def test_a_client_without_a_certificate_of_the_ca_is_refused(server):
    api, paths = server
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
        get(api, paths, "/containerLogs/test/podinfo-1/podinfod", with_certificate=False)
