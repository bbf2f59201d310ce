"""The concurrency limit of canaries (rollout_concurrency) through ansible-playbook on the session's lab: two canaries
of one namespace with a limit of 1 - the second fails fast naming the first, or waits (phase Waiting) and analyses
only after the first ended; a limit of 0 is refused before anything is written."""

import json
import threading
import time

import pytest

from tests.mesh import podinfo_deployment

from .conftest import Canary, kill_group
from .test_rollout_safety import Output

pytestmark = pytest.mark.prometheus

VS = ("networking.istio.io/v1beta1", "VirtualService")
LEASE = ("coordination.k8s.io/v1", "Lease")
# the first canary's analysis outlasts the second's whole ansible-playbook run
SLOW = {"interval": "2s", "step_weights": [20, 40, 60, 80]}
# one step: the holder has traffic for an interval and more, enough for the waiter to be seen Waiting meanwhile
SHORT = {"interval": "2s", "step_weights": [50]}


def renamed(deployment, name):
    deployment["metadata"]["name"] = name
    labels = {"app": name}
    deployment["metadata"]["labels"] = dict(labels)
    deployment["spec"]["selector"] = {"matchLabels": dict(labels)}
    deployment["spec"]["template"]["metadata"]["labels"] = dict(labels)
    return deployment


def canary_weight(target):
    vs = target.get(VS[0], VS[1], target.target)
    return sum(r.get("weight", 0) for r in vs["spec"]["http"][-1]["route"] if r["destination"]["host"] == target.target + "-canary")


@pytest.fixture
def pair(shared_lab, namespace, tmp_path):
    """podinfo and podinfo-b (6.0.0) in one namespace, both initialised."""
    targets = []
    for name in ("podinfo", "podinfo-b"):
        shared_lab.store.create(renamed(podinfo_deployment(namespace, "6.0.0", replicas=1), name))
        directory = tmp_path / name
        directory.mkdir()
        target = Canary(shared_lab, namespace, directory, target=name)
        rc, out = target.run()
        assert rc == 0, out
        assert target.status()["phase"] == "Initialized", out
        targets.append(target)
    return targets


def slot_holders(target):
    leases = target.cluster.store.list(LEASE[0], LEASE[1], target.namespace)
    return dict((lease["metadata"]["name"], lease["spec"].get("holderIdentity"))
                for lease in leases if lease["metadata"]["name"].startswith("progressive-delivery-slot-"))


def test_over_the_limit_fails_fast_naming_the_holder_then_runs_after_it(pair):
    first, second = pair
    limit = {"rollout_concurrency": {"namespace": 1, "on_limit": "fail"}}
    first.release("6.0.1")
    second.release("6.0.1")
    run = Output(first.start(rollout_analysis=SLOW, **limit))
    try:
        run.wait_for("canary weight 20", timeout=600)
        started = time.monotonic()
        rc, out = second.run(rollout_analysis=SLOW, **limit)
        refused_in = time.monotonic() - started
        first_rc, first_out = run.finish(timeout=600)
    finally:
        kill_group(run.process)
    print("refused in %.1f s (a whole ansible-playbook run)" % refused_in)
    assert first_rc == 0, first_out
    assert rc != 0
    expected = ("canary %s/podinfo-b cannot start: 1 of 1 concurrent canaries of namespace %s already run, held by %s/podinfo (slot "
                "progressive-delivery-slot-0" % (first.namespace, first.namespace, first.namespace))
    assert expected in out, out
    assert "nothing was scaled or routed" in out
    # refused before the canary got replicas or traffic; its status is still the initialised one
    assert second.replicas("podinfo-b") == 0 and canary_weight(second) == 0
    assert second.status()["phase"] == "Initialized"
    assert first.status()["phase"] == "Succeeded"
    # the first run gave its slot back when it ended (that a waiting canary then runs is the next test's)
    assert slot_holders(first) == {"progressive-delivery-slot-0": None}


def test_started_together_one_analyses_while_the_other_waits(pair):
    first, second = pair
    limit = {"rollout_concurrency": {"namespace": 1, "wait_timeout": 120}}
    first.release("6.0.1")
    second.release("6.0.1")
    seen = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            seen.append((time.monotonic(), canary_weight(first), canary_weight(second),
                         first.status().get("phase"), second.status().get("phase")))
            time.sleep(0.1)

    runs = [Output(first.start(rollout_analysis=SHORT, **limit)), Output(second.start(rollout_analysis=SHORT, **limit))]
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        finished = [run.finish(timeout=400) for run in runs]
    finally:
        stop.set()
        poller.join()
        for run in runs:
            kill_group(run.process)
    codes, outputs = [rc for rc, _out in finished], [out for _rc, out in finished]
    assert codes == [0, 0], outputs
    # never both with traffic; while one had traffic the other was recorded Waiting at some point
    assert not [s for s in seen if s[1] > 0 and s[2] > 0], "both canaries had traffic at once"
    waited = [index for index in (0, 1) if any(s[3 + index] == "Waiting" for s in seen)]
    assert len(waited) == 1, seen[:: max(len(seen) // 40, 1)]
    waiter = waited[0]
    holder = 1 - waiter
    assert any(s[3 + waiter] == "Waiting" and s[1 + holder] > 0 for s in seen)
    # the waiter's traffic began only after the holder's analysis ended
    holder_last = max(s[0] for s in seen if s[1 + holder] > 0)
    waiter_first = min(s[0] for s in seen if s[1 + waiter] > 0)
    print("the waiting canary got its first traffic %.1f s after the first one's last" % (waiter_first - holder_last))
    assert waiter_first > holder_last
    assert "held by %s/%s" % (first.namespace, pair[holder].target) in outputs[waiter]
    assert first.status()["phase"] == "Succeeded" and second.status()["phase"] == "Succeeded"
    assert set(slot_holders(first).values()) == {None}


def test_a_limit_of_zero_writes_nothing(canary):
    first = canary
    first.release("6.0.1")

    def snapshot():
        objects = dict((name, json.dumps(first.get(LEASE[0], LEASE[1], name), sort_keys=True))
                       for name in ("podinfo-canary-lock", "progressive-delivery-slot-0"))
        objects["status"] = json.dumps(first.get("v1", "ConfigMap", "podinfo-canary-status"), sort_keys=True)
        objects["vs"] = json.dumps(first.get(VS[0], VS[1], "podinfo")["spec"], sort_keys=True)
        objects["replicas"] = first.replicas("podinfo")
        return objects

    before = snapshot()
    rc, out = first.run(rollout_concurrency={"namespace": 0})
    assert rc != 0
    assert "rollout_concurrency.namespace must be a whole number of canaries from 1 to 1000 (null for no limit), got 0" in out, out
    assert "nothing was changed in the cluster" in out
    assert snapshot() == before
    assert json.loads(before["progressive-delivery-slot-0"]) is None
