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


# The tenure (holder + acquire time) decides ownership, not expiry -------------------------------------------


def test_renew_keeps_the_tenure_and_extends_the_lease():
    _action, lease = lk.acquire("podinfo", "test", None, "alice@ctl:1", 10, T0)
    token = lk.summary(lease, T0)["token"]
    assert token == "2026-01-02T03:04:05.123456Z"
    action, renewed = lk.renew("podinfo", "test", lease, "alice@ctl:1", token, 30, later(25))
    # an expired lease nobody took over is still the holder's
    assert action == lk.RENEWED
    assert renewed["spec"]["renewTime"] == lk.format_time(later(25))
    assert renewed["spec"]["leaseDurationSeconds"] == 30
    assert lk.token(renewed["spec"]) == token


def test_renew_fails_on_a_lease_released_by_a_forced_abort():
    """The race of the safety issue: a forced abort takes the lease, rolls back and releases it; the
    interrupted run's renewal must not take the (now free) lease back."""
    _action, lease = lk.acquire("podinfo", "test", None, "runner@ctl:1", 60, T0)
    token = lk.token(lease["spec"])
    _action, taken = lk.acquire("podinfo", "test", lease, "operator@laptop", 60, later(5), force=True)
    _action, released = lk.release("podinfo", "test", taken, "operator@laptop", later(8))
    for state in (taken, released):
        with pytest.raises(lk.LockLost) as caught:
            lk.renew("podinfo", "test", state, "runner@ctl:1", token, 60, later(9))
        assert "runner@ctl:1" in str(caught.value) and "stops without touching the canary" in str(caught.value)
    with pytest.raises(lk.LockLost, match="operator@laptop"):
        lk.renew("podinfo", "test", taken, "runner@ctl:1", token, 60, later(9))
    with pytest.raises(lk.LockLost, match="released by somebody else"):
        lk.renew("podinfo", "test", released, "runner@ctl:1", token, 60, later(9))


def test_renew_fails_when_the_same_holder_took_the_lease_again():
    _action, lease = lk.acquire("podinfo", "test", None, "alice@ctl:1", 5, T0)
    old = lk.token(lease["spec"])
    _action, released = lk.release("podinfo", "test", lease, "alice@ctl:1", later(1))
    _action, again = lk.acquire("podinfo", "test", released, "alice@ctl:1", 5, later(2))
    with pytest.raises(lk.LockLost, match="taken again"):
        lk.renew("podinfo", "test", again, "alice@ctl:1", old, 5, later(3))


def test_renew_fails_on_a_deleted_lease_and_needs_a_token():
    with pytest.raises(lk.LockLost, match="was deleted"):
        lk.renew("podinfo", "test", None, "alice@ctl:1", "2026-01-02T03:04:05.123456Z", 5, T0)
    with pytest.raises(lk.LockError, match="token"):
        lk.renew("podinfo", "test", {"spec": {}}, "alice@ctl:1", "", 5, T0)


def test_release_with_a_token_leaves_a_lost_lease_alone():
    _action, lease = lk.acquire("podinfo", "test", None, "runner@ctl:1", 60, T0)
    token = lk.token(lease["spec"])
    _action, taken = lk.acquire("podinfo", "test", lease, "operator@laptop", 60, later(5), force=True)
    assert lk.release("podinfo", "test", taken, "runner@ctl:1", later(6), lease_token=token) == (lk.NONE, taken)
    assert lk.release("podinfo", "test", lease, "runner@ctl:1", later(6), lease_token=token)[0] == lk.RELEASED
