"""canary_gate on the real API server: gates in the status ConfigMap, operated without the lock,
an approval used up by the run that passes, nothing written for a canary never initialized."""

import contextlib
import io
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.progressive.delivery.plugins.modules import canary_gate, canary_lock, canary_state


def run(module, shared_lab, namespace, check=False, **args):
    module_args = dict(args, target="podinfo", namespace=namespace, kubeconfig=shared_lab.kubeconfig,
                       _ansible_check_mode=check, _ansible_diff=True)
    stdout = io.StringIO()
    with patch_module_args(module_args), contextlib.redirect_stdout(stdout):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(stdout.getvalue())


def status(shared_lab, namespace):
    return json.loads(shared_lab.store.get("v1", "ConfigMap", namespace, "podinfo-canary-status")["data"]["status.json"])


@pytest.fixture
def initialised(shared_lab, namespace):
    result = run(canary_state, shared_lab, namespace, status={"phase": "WaitingPromotion"})
    assert result["changed"] is True, result
    return namespace


def test_approve_is_used_up_by_the_run_that_passes(shared_lab, initialised):
    namespace = initialised
    closed = run(canary_gate, shared_lab, namespace, gate="promotion")
    assert closed["passed"] is False and closed["state"] == "closed" and closed["changed"] is False

    # the run holds the lock; the operator's approval does not need it
    lock = run(canary_lock, shared_lab, namespace, holder="run-1", ttl=60)
    assert lock["changed"] is True, lock
    predicted = run(canary_gate, shared_lab, namespace, check=True, gate="promotion", action="approve", by="alice")
    assert predicted["changed"] is True and "gates" not in status(shared_lab, namespace)
    approved = run(canary_gate, shared_lab, namespace, gate="promotion", action="approve", by="alice")
    assert approved["changed"] is True and approved["state"] == "approved", approved
    assert approved["diff"]["after"]["gates"]["promotion"]["by"] == "alice"
    again = run(canary_gate, shared_lab, namespace, gate="promotion", action="approve", by="bob")
    assert again["changed"] is False and status(shared_lab, namespace)["gates"]["promotion"]["by"] == "alice"

    passed = run(canary_gate, shared_lab, namespace, gate="promotion")
    assert passed["passed"] is True and passed["changed"] is True and passed["state"] == "closed"
    assert status(shared_lab, namespace)["gates"]["promotion"]["state"] == "closed"
    assert status(shared_lab, namespace)["phase"] == "WaitingPromotion"  # the rest of the status untouched
    assert run(canary_gate, shared_lab, namespace, gate="promotion")["passed"] is False


def test_open_holds_until_closed(shared_lab, initialised):
    namespace = initialised
    assert run(canary_gate, shared_lab, namespace, gate="rollback", action="open")["state"] == "open"
    for _ in range(2):
        result = run(canary_gate, shared_lab, namespace, gate="rollback")
        assert result["passed"] is True and result["changed"] is False
    assert run(canary_gate, shared_lab, namespace, gate="rollback", action="close")["state"] == "closed"
    assert run(canary_gate, shared_lab, namespace, gate="rollback")["passed"] is False


def test_no_status_no_gate(shared_lab, namespace):
    result = run(canary_gate, shared_lab, namespace, gate="promotion", action="open")
    assert result["failed"] is True and result["field"] == "target"
    assert "has no rollout status (ConfigMap podinfo-canary-status)" in result["msg"]
    assert shared_lab.store.get("v1", "ConfigMap", namespace, "podinfo-canary-status") is None


def test_unknown_gate_is_refused_by_its_choices(shared_lab, initialised):
    result = run(canary_gate, shared_lab, initialised, gate="deploy", action="open")
    assert result["failed"] is True and "deploy" in result["msg"] and "promotion" in result["msg"]
