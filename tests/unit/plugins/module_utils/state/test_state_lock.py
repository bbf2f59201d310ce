import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)


def later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def test_create_then_renew_then_release():
    action, lease = lk.acquire("podinfo", "test", None, "alice@ctl:1", 60, T0)
    assert action == lk.CREATED
    assert lease["metadata"]["name"] == "podinfo-canary-lock"
    assert lease["spec"] == {
        "holderIdentity": "alice@ctl:1",
        "leaseDurationSeconds": 60,
        "acquireTime": "2026-01-02T03:04:05.123456Z",
        "renewTime": "2026-01-02T03:04:05.123456Z",
        "leaseTransitions": 0,
    }
    action, renewed = lk.acquire("podinfo", "test", lease, "alice@ctl:1", 600, later(10))
    assert action == lk.RENEWED
    assert renewed["spec"]["acquireTime"] == lease["spec"]["acquireTime"]
    assert renewed["spec"]["leaseDurationSeconds"] == 600
    assert lk.summary(renewed, later(11))["expires_at"] == "2026-01-02T03:14:15.123456Z"
    action, released = lk.release("podinfo", "test", renewed, "alice@ctl:1", later(20))
    assert action == lk.RELEASED
    assert released["spec"]["holderIdentity"] is None
    assert lk.release("podinfo", "test", released, "alice@ctl:1", later(21))[0] == lk.NONE
    # a free lease is taken without counting a transition from nobody
    action, again = lk.acquire("podinfo", "test", released, "bob@ctl:2", 60, later(30))
    assert action == lk.CREATED and again["spec"]["leaseTransitions"] == 0


def test_second_holder_fails_naming_holder_and_since():
    _action, lease = lk.acquire("podinfo", "test", None, "alice@ctl:1", 60, T0)
    with pytest.raises(lk.LockHeld) as err:
        lk.acquire("podinfo", "test", lease, "bob@ctl:2", 60, later(15))
    message = str(err.value)
    assert "canary podinfo.test is locked by alice@ctl:1 since 2026-01-02T03:04:05.123456Z" in message
    assert "expires at 2026-01-02T03:05:05.123456Z (in 45s)" in message
    assert err.value.holder == "alice@ctl:1"
    with pytest.raises(lk.LockHeld, match="cannot release: canary podinfo.test is locked by alice"):
        lk.release("podinfo", "test", lease, "bob@ctl:2", later(15))


def test_expired_lease_is_taken_over_and_force_takes_a_live_one():
    _action, lease = lk.acquire("podinfo", "test", None, "alice@ctl:1", 60, T0)
    action, taken = lk.acquire("podinfo", "test", lease, "bob@ctl:2", 30, later(61))
    assert action == lk.TAKEN_OVER
    assert taken["spec"]["holderIdentity"] == "bob@ctl:2"
    assert taken["spec"]["leaseTransitions"] == 1
    assert taken["spec"]["acquireTime"] == "2026-01-02T03:05:06.123456Z"
    action, forced = lk.acquire("podinfo", "test", taken, "carol@ctl:3", 30, later(62), force=True)
    assert action == lk.TAKEN_OVER and forced["spec"]["leaseTransitions"] == 2
    assert lk.summary(lease, later(61))["expired"] is True
    assert lk.summary(lease, later(59))["expired"] is False


@pytest.mark.parametrize(
    "text",
    ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456789Z"],
)
def test_parse_kubernetes_times(text):
    assert lk.parse_time(text).replace(microsecond=0) == T0.replace(microsecond=0)


def test_bad_parameters():
    with pytest.raises(lk.LockError, match="holder must be a non-empty string"):
        lk.acquire("podinfo", "test", None, "", 60, T0)
    with pytest.raises(lk.LockError, match="ttl must be a positive number of seconds"):
        lk.acquire("podinfo", "test", None, "a", 0, T0)
