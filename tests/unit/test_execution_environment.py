"""The execution environment of execution-environment.yml: the real ``ansible-builder create`` (pinned in
requirements-test.txt) renders it into a build context - without a network, it only writes files - and the context
is checked: the base image, the collection tarball and kubernetes.core for ansible-galaxy, the Python requirements,
the bindep entries on RPM and Debian platforms, and the stage that builds hey from its Go module."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EE_FILE = os.path.join(REPO, "execution-environment.yml")
# Profiles bindep reports on the base image (UBI 9) and on Debian.
RPM_PROFILES = ["platform:rpm", "platform:redhat", "platform:rhel", "platform:redhatenterpriseserver", "platform:rhel-9"]
DPKG_PROFILES = ["platform:dpkg", "platform:debian", "platform:debian-12", "platform:ubuntu"]


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def tool(name):
    path = os.path.join(os.path.dirname(sys.executable), name)
    path = path if os.path.exists(path) else shutil.which(name)
    assert path, "%s is not installed: pip install -r requirements-test.txt" % name
    return path


def offline_prefix():
    """``unshare -n``: the command runs in a network namespace of its own without any interface but a downed
    loopback, so a download would fail. Empty where unprivileged (the command then runs as it is)."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    return []


@pytest.fixture(scope="module")
def ee():
    return load_yaml(EE_FILE)


@pytest.fixture(scope="module")
def galaxy():
    return load_yaml(os.path.join(REPO, "galaxy.yml"))


@pytest.fixture(scope="module")
def context(tmp_path_factory, ee):
    """The EE file with the files it names, in a directory of its own (dist/ gets the collection built from this
    repository), rendered by ``ansible-builder create``."""
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(EE_FILE, work / "execution-environment.yml")
    for kind in ("python", "system"):
        dep = ee["dependencies"][kind]
        assert isinstance(dep, str), "dependencies.%s should name a file, the collection's own" % kind
        (work / dep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(REPO, dep), work / dep)
    build = subprocess.run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist"), REPO],
                           capture_output=True, text=True, timeout=60, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    out = work / "context"
    create = subprocess.run(offline_prefix() + [tool("ansible-builder"), "create", "-f", "execution-environment.yml",
                                                "--context", str(out), "--output-filename", "Containerfile"],
                            cwd=work, capture_output=True, text=True, timeout=60, check=False)
    assert create.returncode == 0, create.stdout + create.stderr
    assert "No matches" not in create.stdout + create.stderr, create.stdout + create.stderr
    return out


def containerfile(context):
    return (context / "Containerfile").read_text()


def stages(text):
    """{stage name: its lines} of a Containerfile."""
    result, name = {}, None
    for line in text.splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line)
        if match:
            name = match.group(2)
            result[name] = [line]
        elif name:
            result[name].append(line)
    return result


def test_schema_version_3_on_a_ubi_base(ee, context):
    assert ee["version"] == 3
    image = ee["images"]["base_image"]["name"]
    assert re.match(r"registry\.(access\.)?redhat\.(com|io)/.*(ubi9|ee-minimal-rhel9)", image), image
    text = containerfile(context)
    assert 'ARG EE_BASE_IMAGE="%s"' % image in text
    assert stages(text)["base"][0] == "FROM $EE_BASE_IMAGE AS base"


def test_ansible_core_is_the_tested_one(ee, context):
    with open(os.path.join(REPO, "requirements-test.txt")) as handle:
        pins = dict(line.strip().split("==", 1) for line in handle if "==" in line and not line.startswith("#"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + pins["ansible-core"]
    assert "ansible-core==%s" % pins["ansible-core"] in containerfile(context)


def test_galaxy_installs_this_collection_and_kubernetes_core(context, galaxy):
    requirements = load_yaml(context / "_build" / "requirements.yml")["collections"]
    by_name = {entry["name"]: entry for entry in requirements}
    wanted = SpecifierSet(galaxy["dependencies"]["kubernetes.core"])
    core = by_name["kubernetes.core"]
    assert SpecifierSet(core["version"]) == wanted
    ours = [entry for entry in requirements if entry.get("type") == "file"]
    assert len(ours) == 1, requirements
    tarball = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert os.path.basename(ours[0]["name"]) == tarball, "the requirement names another version than galaxy.yml's"
    # The galaxy stage copies _build/ to /build and runs ansible-galaxy there: the tarball must be at that path.
    path = context / "_build" / ours[0]["name"]
    assert path.is_file(), "the collection tarball is not in the build context"
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
        names = archive.getnames()
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == (galaxy["namespace"], galaxy["name"],
                                                                              galaxy["version"])
    assert "playbooks/rollout.yml" in names and "roles/rollout/tasks/main.yml" in names
    text = containerfile(context)
    galaxy_stage = "\n".join(stages(text)["galaxy"])
    assert "COPY _build /build" in galaxy_stage and "ansible-galaxy collection install" in galaxy_stage


def test_python_requirements(context):
    lines = [line.strip() for line in (context / "_build" / "requirements.txt").read_text().splitlines()]
    names = {Requirement(line).name.lower() for line in lines if line and not line.startswith("#")}
    assert {"kubernetes", "jsonpatch", "jmespath", "pyyaml"} <= names, names
    assert "COPY _build/requirements.txt requirements.txt" in containerfile(context)


def test_bindep_selects_hey_only_where_a_package_exists(context):
    rules = Depends((context / "_build" / "bindep.txt").read_text())
    assert [rule[0] for rule in rules.active_rules(DPKG_PROFILES)] == ["hey"]
    # On the UBI base there is no hey package: bindep must not ask dnf for it.
    assert "hey" not in [rule[0] for rule in rules.active_rules(RPM_PROFILES)]


def test_hey_is_built_from_a_pinned_go_module_and_copied_into_the_final_image(context):
    text = containerfile(context)
    parts = stages(text)
    builders = [name for name, lines in parts.items()
                if any(re.search(r"go install github\.com/rakyll/hey@v\d+\.\d+\.\d+(\s|$)", line) for line in lines)]
    assert len(builders) == 1, "no stage runs go install github.com/rakyll/hey@<version>"
    build = "\n".join(parts[builders[0]])
    assert "CGO_ENABLED=0" in build, "hey must be static to run on the base image"
    assert re.match(r"FROM \S*golang:\d+\.\d+ AS ", parts[builders[0]][0]), "pin the Go image's version"
    final = parts["final"]
    copy = [line for line in final if line.startswith("COPY --from=%s " % builders[0])]
    assert copy and copy[0].split()[-1] == "/usr/local/bin/hey", final
    assert any("/usr/local/bin/hey" in line and line.startswith("RUN") for line in final), "hey is never run"
    assert text.index("FROM base AS final") > text.index(parts[builders[0]][0])


def test_the_collection_metadata_names_the_same_files(ee):
    meta = load_yaml(os.path.join(REPO, "meta", "execution-environment.yml"))
    assert meta["dependencies"]["python"] == ee["dependencies"]["python"]
    assert meta["dependencies"]["system"] == ee["dependencies"]["system"]
