"""The lab CLI: empty directories, `down` cleaning up after a dead supervisor, two labs side by side."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_status_and_down_without_a_lab(tmp_path):
    status = cli("status", "--dir", str(tmp_path))
    assert status.returncode == 1
    assert json.loads(status.stdout) == {"dir": str(tmp_path), "state": "absent", "healthy": False}
    down = cli("down", "--dir", str(tmp_path))
    assert down.returncode == 0 and "no lab" in down.stdout


def test_usage_errors_name_the_option():
    run = cli("up")
    assert run.returncode == 2 and "--dir" in run.stderr


def test_down_stops_leftover_processes_of_a_dead_supervisor(tmp_path):
    """A supervisor killed with SIGKILL leaves its children: `down` stops the ones lab.json lists, by pid."""
    pod = subprocess.Popen([sys.executable, "-m", "tests.lab.podinfo", "--port=0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        port = int(re.search(r"port=(\d+)", pod.stdout.readline()).group(1))
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "lab.json").write_text(json.dumps({
            "dir": str(tmp_path), "state": "running", "mesh_port": port, "ingress_port": None,
            # The stranger's pid is listed but is no lab process (a reused pid): it must survive.
            "pids": {"supervisor": dead.pid, "envoy": None, "prometheus": None, "pods": [pod.pid, stranger.pid]},
        }))
        down = cli("down", "--dir", str(tmp_path))
        assert down.returncode == 0, down.stderr
        assert pod.wait(timeout=10) is not None
        assert stranger.poll() is None
        assert json.loads((tmp_path / "lab.json").read_text())["state"] == "stopped"
    finally:
        for process in (pod, stranger):
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.lab
def test_two_labs_run_side_by_side(tmp_path):
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    starts = [subprocess.Popen([sys.executable, "-m", "tests.lab", "up", "--dir", d], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for d in dirs]
    try:
        for start in starts:
            out, err = start.communicate(timeout=60)
            assert start.returncode == 0, out + err
        infos = [json.loads((Path(d) / "lab.json").read_text()) for d in dirs]
        keys = ("api", "mesh", "ingress", "prometheus", "envoy_admin")
        assert not {infos[0][k] for k in keys} & {infos[1][k] for k in keys}
        for d in dirs:
            assert cli("status", "--dir", d).returncode == 0
    finally:
        for d in dirs:
            cli("down", "--dir", d)
