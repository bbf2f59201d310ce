"""_http_send: one request that never raises; the transport errors in words naming the peer."""

import socket
import ssl

from ansible_collections.progressive.delivery.plugins.module_utils import _http_send as hs


def test_each_transport_error_names_the_peer_and_the_fix():
    assert hs.transport_reason(socket.timeout(), 2.5) == "no answer within the timeout of 2.5 s"
    assert hs.transport_reason(ConnectionRefusedError(), 5, "the Pushgateway", " (is it running at that address?)") == (
        "connection refused by the Pushgateway (is it running at that address?)")
    assert hs.transport_reason(socket.gaierror(-2, "Name or service not known"), 5) == (
        "cannot resolve the host of the receiver (Name or service not known)")
    assert hs.transport_reason(ssl.SSLError("bad certificate"), 5).startswith("TLS error: ")
    assert "give ca_path" in hs.transport_reason(ssl.SSLError("bad certificate"), 5)
    assert hs.transport_reason(OSError("boom"), 5) == "cannot connect to the receiver: boom"


def test_a_closed_port_is_an_answer_of_none_with_the_reason():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, text = hs.send("http://127.0.0.1:%d/x" % port, b"{}", "POST", {}, 2, True, None, "test", peer="the webhook")
    assert (status, text) == (None, "connection refused by the webhook")
