"""The start of the traffic suites: podinfo ``primary`` in a namespace, initialised by canary_init (the primary keeps
that version), then the target released at ``canary``; both rolled out before the suite sends a request."""

from ansible_collections.progressive.delivery.plugins.modules import canary_init

from tests.mesh import podinfo_deployment, wait_for
from tests.modules.cluster.harness import run_module


def initialized_with_canary(lab, ns, primary, canary, **init_args):
    """canary_init's result, once podinfo-primary runs ``primary`` and the target ``canary`` (one replica each)."""
    lab.apply(podinfo_deployment(ns, version=primary, replicas=1))
    wait_for(lambda: lab.rolled_out("podinfo", 1, ns), 90, "podinfo " + primary, describe=lambda: lab.describe(namespace=ns))
    init = run_module(canary_init, lab, dict(dict(namespace=ns, target="podinfo", wait_timeout=60), **init_args))
    assert not init.get("failed"), init
    target = lab.read("apps/v1", "Deployment", ns, "podinfo")
    target["spec"]["replicas"] = 1
    target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:" + canary
    lab.apply(target)
    wait_for(lambda: lab.rolled_out("podinfo", 1, ns), 90, "the canary at " + canary, describe=lambda: lab.describe(namespace=ns))
    return init
