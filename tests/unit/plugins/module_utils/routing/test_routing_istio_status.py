import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.routing._istio_status import distribution


def vs(generation=4, status=None):
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "podinfo", "generation": generation}}
    if status is not None:
        obj["status"] = status
    return obj


def reconciled(state="True", observed="4", on_condition=False, reason="", message="3/3 complete"):
    condition = {"type": "Reconciled", "status": state, "reason": reason, "message": message}
    status = {"conditions": [{"type": "PassedAnalysis", "status": "True"}, condition]}
    if on_condition:
        condition["observedGeneration"] = observed
    elif observed is not None:
        status["observedGeneration"] = observed
    return status


@pytest.mark.parametrize("status", [None, {}, {"conditions": []}, {"conditions": [{"type": "PassedAnalysis", "status": "True"}]},
                                    {"validationMessages": [{"level": "Warning"}]}])
def test_no_distribution_status_tells_nothing(status):
    result, message = distribution(vs(status=status), 4)
    assert result is None and "no Istio Reconciled condition" in message and "distribution status is off" in message


def test_a_condition_without_generation_tells_nothing():
    result, message = distribution(vs(status=reconciled(observed=None)), 4)
    assert result is None and "does not say which generation" in message


@pytest.mark.parametrize("observed", ["4", 4, "5", 5])
def test_the_generation_or_a_later_one_reconciled(observed):
    result, message = distribution(vs(status=reconciled(observed=observed)), 4)
    assert result is True and "distributed to every proxy" in message


def test_older_istio_reports_the_generation_on_the_condition():
    assert distribution(vs(status=reconciled(observed="4", on_condition=True)), 4)[0] is True
    assert distribution(vs(status=reconciled(observed="3", on_condition=True)), 4)[0] is False


def test_an_older_generation_reconciled_is_not_enough():
    result, message = distribution(vs(status=reconciled(observed="3")), 4)
    assert result is False and message == "Istio reports generation 3, waiting for generation 4 to be distributed"


def test_still_propagating():
    status = reconciled(state="False", reason="stillPropagating", message="61/122 complete")
    result, message = distribution(vs(status=status), "4")
    assert result is False and message == "Istio reports generation 4 still propagating (stillPropagating: 61/122 complete)"


def test_missing_object():
    assert distribution(None, 4)[0] is None
