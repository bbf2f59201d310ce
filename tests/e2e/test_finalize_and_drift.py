"""GitOps coexistence on the real lab (docs/gitops.md): the finalize playbook gives the service back to the user's
Deployment and VirtualService as Git holds them, and neither a promotion nor a rollback leaves drift on the target's
metadata."""

import json
import subprocess

import pytest

from tests.e2e.conftest import REPO, Canary
from tests.mesh import podinfo_deployment, versions_served, wait_for

pytestmark = pytest.mark.lab

VS = ("networking.istio.io/v1beta1", "VirtualService")
# The user's VirtualService as Git would hold it (seed 003: Argo CD applies it, the collection adopts it).
USER_SPEC = {"hosts": ["podinfo"], "http": [{"name": "main", "route": [{"destination": {"host": "podinfo", "port": {"number": 9898}}}],
                                             "timeout": "5s"}]}
# Written on a Deployment's metadata by Kubernetes' own controllers, not by anyone Git would know of.
CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)


def user_metadata(deployment):
    metadata = deployment["metadata"]
    annotations = dict((k, v) for k, v in (metadata.get("annotations") or {}).items() if k not in CONTROLLER_ANNOTATIONS)
    return {"annotations": annotations, "labels": metadata.get("labels") or {}}


def snapshot(target):
    """Every object of the namespace that a finalize could touch, without what the server changes on its own."""
    found = {}
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), VS,
                              ("networking.istio.io/v1beta1", "DestinationRule"), ("coordination.k8s.io/v1", "Lease")):
        for obj in target.cluster.store.list(api_version, kind, target.namespace):
            # the generation, where the kind has one, moves with the spec only: a Deployment's status, which its
            # controller still updates after a promotion, bumps the resourceVersion
            metadata = obj["metadata"]
            found["%s/%s" % (kind, metadata["name"])] = (metadata.get("generation") or metadata.get("resourceVersion"),
                                                        json.dumps([obj.get("spec"), obj.get("data")], sort_keys=True))
    return found


@pytest.fixture
def adopted(shared_lab, namespace, tmp_path):
    """podinfo 6.0.0 with 2 replicas and the user's own VirtualService, adopted by a first rollout run."""
    shared_lab.store.create(podinfo_deployment(namespace, "6.0.0", replicas=2))
    shared_lab.store.create({"apiVersion": VS[0], "kind": VS[1], "metadata": {"name": "podinfo", "namespace": namespace,
                                                                              "labels": {"app.kubernetes.io/part-of": "shop"}},
                             "spec": USER_SPEC})
    target = Canary(shared_lab, namespace, tmp_path)
    rc, out = target.run(rollout_service={"adopt": True})
    assert rc == 0, out
    assert target.status()["phase"] == "Initialized", out
    assert target.replicas("podinfo") == 0 and target.replicas("podinfo-primary") == 2
    assert target.get(*VS, "podinfo")["spec"] != USER_SPEC, "the adopted VirtualService routes to primary and canary"
    return target


def run(target, playbook, *args, timeout=240, **overrides):
    """ansible-playbook with extra command-line arguments (``--check``, ``--diff``): ``(rc, output)``."""
    try:
        result = subprocess.run(target.command(playbook, target.vars(**overrides)) + list(args), env=target.env(), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise AssertionError("%s did not end within %d s:\n%s" % (playbook, timeout, output[-5000:]))
    return result.returncode, result.stdout


def recap_changed(out):
    """The changed= count of the run's PLAY RECAP."""
    line = [line for line in out.splitlines() if "changed=" in line and "ok=" in line][-1]
    return int(line.split("changed=")[1].split()[0])


def test_finalize_after_a_promotion_restores_the_users_objects(adopted):
    target, lab, namespace = adopted, adopted.cluster, adopted.namespace
    before_release = user_metadata(target.get("apps/v1", "Deployment", "podinfo"))
    target.release("6.0.1")
    # The promotion by the promote playbook (no analysis: the test is about what comes after it, and stays short).
    rc, out = run(target, "promote", timeout=420, rollout_service={"adopt": True})
    assert rc == 0, out
    assert target.status()["phase"] == "Succeeded", out
    assert target.image("podinfo-primary").endswith(":6.0.1")
    assert target.replicas("podinfo") == 0
    # The promotion wrote the target's replicas only: nothing Git (Argo CD, Flux) would show as drift on its metadata.
    assert user_metadata(target.get("apps/v1", "Deployment", "podinfo")) == before_release

    # Check mode with --diff: the whole plan shown, nothing written.
    before = snapshot(target)
    rc, out = run(target, "finalize", "--check", "--diff")
    assert rc == 0, out
    for line in ("scale Deployment/podinfo from 0 to 2 replicas", "restore VirtualService/podinfo", "point Service/podinfo at",
                 "delete Deployment/podinfo-primary", "delete ConfigMap/podinfo-canary-status", "delete Lease/podinfo-canary-lock"):
        assert line in out, out
    assert snapshot(target) == before, "check mode wrote nothing"

    rc, out = run(target, "finalize")
    assert rc == 0, out
    assert recap_changed(out) >= 1, out
    vs = target.get(*VS, "podinfo")
    assert vs["spec"] == USER_SPEC, "the adopted VirtualService has the user's spec back, exactly"
    assert vs["metadata"]["labels"] == {"app.kubernetes.io/part-of": "shop"}
    assert "progressive.delivery/original-spec" not in (vs["metadata"].get("annotations") or {})
    assert target.replicas("podinfo") == 2, "the target has the primary's replicas"
    assert target.image("podinfo").endswith(":6.0.1")
    apex = target.get("v1", "Service", "podinfo")
    assert apex["spec"]["selector"] == {"app": "podinfo"}
    for api_version, kind, name in (("apps/v1", "Deployment", "podinfo-primary"), ("v1", "Service", "podinfo-primary"),
                                    ("v1", "Service", "podinfo-canary"), ("networking.istio.io/v1beta1", "DestinationRule", "podinfo-primary"),
                                    ("networking.istio.io/v1beta1", "DestinationRule", "podinfo-canary"),
                                    ("v1", "ConfigMap", "podinfo-canary-status"), ("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")):
        assert target.get(api_version, kind, name) is None, "%s %s is left" % (kind, name)
    # The target's own pods answer through the user's route.
    served = wait_for(lambda: (lambda seen: seen if seen == {"6.0.1": 20} else None)(versions_served(lab, "podinfo.%s" % namespace, 20)),
                      60, "the target answering through the restored VirtualService")
    assert served
    # the primary's pods go with their Deployment, by the garbage collector (a background deletion, as kubectl's default)
    wait_for(lambda: not [p for p in lab.store.list("v1", "Pod", namespace) if p["metadata"]["name"].startswith("podinfo-primary")],
             60, "the primary's pods to be gone")

    after = snapshot(target)
    rc, out = run(target, "finalize")
    assert rc == 0, out
    assert recap_changed(out) == 0, out
    assert "Nothing to finalize" in out, out
    assert snapshot(target) == after, "the second run wrote nothing"
