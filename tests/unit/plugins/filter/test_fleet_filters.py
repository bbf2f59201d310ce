"""The fleet and reconcile filters (plugins/filter/fleet.py): hostvars read in Python, errors as filter errors."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter import fleet as filters

HOSTVARS = {
    "c1": {"rollout_kubeconfig": "/k/1", "rollout_target": "podinfo", "rollout_namespace": "a", "other": "x"},
    "c2": {"rollout_context": "prod", "rollout_target": "podinfo", "rollout_namespace": "a"},
}


def test_fleet_check_reads_the_hosts_variables():
    assert filters.fleet_check(["c1", "c2"], HOSTVARS, 12) == 12


def test_fleet_check_names_a_host_without_a_cluster():
    with pytest.raises(AnsibleFilterError, match="fleet_check: host c3 has neither rollout_kubeconfig nor rollout_context"):
        filters.fleet_check(["c1", "c3"], dict(HOSTVARS, c3={"rollout_target": "p", "rollout_namespace": "b"}), 0)


def test_every_filter_is_registered():
    assert set(filters.FilterModule().filters()) == {
        "fleet_check", "fleet_cluster_result", "fleet_soak", "fleet_summary", "reconcile_plan", "reconcile_reason",
        "reconcile_report"}


def test_reconcile_plan_takes_a_naive_utc_time_and_rejects_bad_actions():
    assert filters.reconcile_plan([], [], now=datetime.datetime(2026, 1, 1)) == []
    with pytest.raises(AnsibleFilterError, match="reconcile_plan: reconcile_action must be one of"):
        filters.reconcile_plan([], [], "undo")


def test_reconcile_report_collects_the_outcomes_from_the_canary_hosts():
    entries = [{"target": "podinfo", "namespace": "test", "action": "rollback", "why": "dead"}]
    hostvars = {"reconcile-test-podinfo": {"reconcile_entry": entries[0], "reconcile_outcome": {"failed": False, "phase": "Failed"}}}
    report = filters.reconcile_report(entries, hostvars, ["reconcile-test-podinfo"])
    assert report["result"] == "reconciled" and report["lines"] == ["podinfo.test: rolled back - dead"]
    assert filters.reconcile_report(entries, {}, [])["canaries"][0]["result"] == "not done"
