# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet and reconcile playbooks (plugins/module_utils/fleet/, docs/fleet.md): the
decisions are made in Python, the playbooks only act on them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.fleet import fleet, reconcile

_HOST_VARS = ("rollout_kubeconfig", "rollout_context", "rollout_target", "rollout_namespace")


def _host_view(hostvars, host):
    try:
        values = hostvars[host]
    except KeyError:
        return {"name": host}
    view = {"name": host}
    for var in _HOST_VARS:
        try:
            view[var] = values.get(var)
        except Exception as exc:  # an undefined or broken template in the inventory
            raise AnsibleFilterError("fleet_check: host %s: %s could not be read: %s" % (host, var, exc))
    return view


def fleet_check(hosts, hostvars, soak_seconds=0):
    """The soak time, after checking every host of the fleet (see fleet.check)."""
    try:
        return fleet.check([_host_view(hostvars, host) for host in hosts or []], soak_seconds)
    except fleet.FleetError as exc:
        raise AnsibleFilterError("fleet_check: %s" % exc)


def fleet_cluster_result(host, before, after, error=None, started=None, ended=None):
    """One cluster's result (see fleet.cluster_result)."""
    return fleet.cluster_result(host, before, after, error, started, ended)


def fleet_soak(results, soak_seconds=0):
    """Seconds to wait before the next cluster (see fleet.soak_before)."""
    return fleet.soak_before(results or [], soak_seconds)


def fleet_summary(results, hosts):
    """The summary of the fleet (see fleet.summary)."""
    return fleet.summary(list(hosts or []), results or [])


def reconcile_plan(configmaps, leases, action="rollback", targets=None, now=None):
    """The canaries left by a dead runner and what to do with each (see reconcile.plan)."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    try:
        return reconcile.plan(configmaps, leases, moment, action, targets or None)
    except reconcile.ReconcileError as exc:
        raise AnsibleFilterError("reconcile_plan: %s" % exc)


def reconcile_reason(entry):
    """The rollback reason recorded for one canary."""
    return reconcile.reason(entry)


def reconcile_report(entries, hostvars, hosts):
    """The reconcile run's outcome (see reconcile.report) from the ``reconcile_entry`` and ``reconcile_outcome``
    of the hosts the reconcile playbook made, one per canary."""
    outcomes = {}
    for host in hosts or []:
        try:
            values = hostvars[host]
            entry = values.get("reconcile_entry") or {}
            outcome = values.get("reconcile_outcome")
        except KeyError:
            continue
        if entry.get("target") and outcome is not None:
            outcomes[entry["target"]] = outcome
    return reconcile.report(entries or [], outcomes)


class FilterModule(object):
    def filters(self):
        return {
            "fleet_check": fleet_check,
            "fleet_cluster_result": fleet_cluster_result,
            "fleet_soak": fleet_soak,
            "fleet_summary": fleet_summary,
            "reconcile_plan": reconcile_plan,
            "reconcile_reason": reconcile_reason,
            "reconcile_report": reconcile_report,
        }
