"""The upstream programs built by scripts/build_lab_binaries.sh: each one runs and reports its pin.

The pins are read from the wrapper modules' go.mod files (tests/lab/upstream/*/go.mod), not from
the script's manifest, so a script that stamps or copies the wrong thing fails here. The fixture
runs the script: seconds when everything is built, a long cold build (see docs/lab.md) when not.
"""

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "build_lab_binaries.sh"
UPSTREAM = REPO / "tests" / "lab" / "upstream"
COLD_BUILD_TIMEOUT = 3 * 3600


def pinned(project, module):
    """The version tests/lab/upstream/<project>/go.mod requires of module."""
    text = (UPSTREAM / project / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(\S+)", text, re.MULTILINE)
    assert match, f"{project}/go.mod does not require {module}"
    return match.group(1)


def build(timeout=COLD_BUILD_TIMEOUT):
    run = subprocess.run([str(SCRIPT), "--print-manifest"], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"build_lab_binaries.sh failed:\n{run.stderr[-4000:]}"
    path = Path(run.stdout.strip())
    return path, json.loads(path.read_text()), run.stderr


def run_binary(path, *args, timeout=60):
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def manifest():
    return build()[1]


@pytest.fixture(scope="module")
def k8s_version():
    return pinned("kubernetes", "k8s.io/kubernetes")


def test_manifest_lists_absolute_paths_outside_the_work_tree(manifest):
    for name, path in manifest["binaries"].items():
        if name == "loadtester" and path is None:
            continue  # optional; its build error is in loadtester_error
        binary = Path(path)
        assert binary.is_absolute() and REPO not in binary.parents, path
        assert binary.is_file() and binary.stat().st_mode & 0o111, path
    for path in manifest["crds"].values():
        assert Path(path).is_absolute() and Path(path).is_dir(), path


def test_second_run_is_cached_and_fast(manifest):
    start = time.monotonic()
    _, again, progress = build(timeout=120)
    assert time.monotonic() - start < 60
    assert again == manifest
    lines = [line for line in progress.splitlines() if line.startswith("build: ")]
    assert lines and all(line.endswith("cached") or "not retried" in line for line in lines), progress


@pytest.mark.parametrize("program", ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
def test_control_plane_reports_the_pinned_version(manifest, k8s_version, program):
    run = run_binary(manifest["binaries"][program], "--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"Kubernetes {k8s_version}"


def test_kubectl_client_version_is_the_pin(manifest, k8s_version):
    run = run_binary(manifest["binaries"]["kubectl"], "version", "--client", "-o", "json")
    assert run.returncode == 0, run.stderr
    client = json.loads(run.stdout)["clientVersion"]
    minor = k8s_version.split(".")[1]
    assert (client["gitVersion"], client["major"], client["minor"]) == (k8s_version, "1", minor)
    assert manifest["versions"]["kubernetes"] == k8s_version


def test_etcd_reports_the_pinned_version(manifest):
    version = pinned("etcd", "go.etcd.io/etcd/server/v3")
    run = run_binary(manifest["binaries"]["etcd"], "--version")
    assert run.returncode == 0, run.stderr
    assert f"etcd Version: {version.lstrip('v')}" in run.stdout.splitlines()
    assert manifest["versions"]["etcd"] == version


def test_istiod_runs_and_reports_its_build(manifest):
    pin = pinned("istio", "istio.io/istio")
    run = run_binary(manifest["binaries"]["pilot-discovery"], "version", "-o", "json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)["clientVersion"]
    assert info["revision"] == pin.rsplit("-", 1)[1]
    assert re.fullmatch(r"1\.\d+-dev", info["version"]), info
    assert manifest["versions"]["istio"] == {"module": pin, "release": info["version"]}


def test_podinfo_reports_its_release(manifest):
    pin = pinned("podinfo", "github.com/stefanprodan/podinfo")
    run = run_binary(manifest["binaries"]["podinfo"], "--version")
    assert run.returncode == 0, run.stderr
    release = manifest["versions"]["podinfo"]["release"]
    assert re.fullmatch(r"6\.\d+\.\d+", release) and run.stdout.strip() == release
    assert manifest["versions"]["podinfo"]["module"] == pin


def crd_kinds(folder):
    kinds = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                kinds[(spec["group"], spec["names"]["kind"])] = doc
    return kinds


def test_istio_crds(manifest):
    kinds = crd_kinds(manifest["crds"]["istio"])
    for kind in ("VirtualService", "DestinationRule", "Gateway", "Sidecar"):
        crd = kinds.get(("networking.istio.io", kind))
        assert crd, f"no {kind} CRD in {manifest['crds']['istio']}"
        assert any(v["served"] and v["name"] == "v1" for v in crd["spec"]["versions"]), kind


def test_gateway_api_standard_crds(manifest):
    version = pinned("gateway-api", "sigs.k8s.io/gateway-api")
    kinds = crd_kinds(manifest["crds"]["gateway-api"])
    for kind in ("GatewayClass", "Gateway", "HTTPRoute"):
        crd = kinds.get(("gateway.networking.k8s.io", kind))
        assert crd, f"no {kind} CRD in {manifest['crds']['gateway-api']}"
        annotations = crd["metadata"]["annotations"]
        assert annotations["gateway.networking.k8s.io/bundle-version"] == version
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"
    assert manifest["versions"]["gateway-api"] == version


def test_loadtester_built_or_its_error_recorded(manifest):
    path = manifest["binaries"]["loadtester"]
    if path is None:
        assert manifest["loadtester_error"].strip(), "loadtester neither built nor its error recorded"
        return
    run = run_binary(path, "--help")
    assert "port" in run.stdout + run.stderr
