"""The lab CLI without a running lab: empty directories, usage errors, and `down` cleaning up after a
lab process that was killed (its children, its network namespaces and links)."""

import json
import subprocess
import sys

from tests.lab.common import alive

from ._lab import lab_cli, link_names, netns_names


def test_status_and_down_without_a_lab(tmp_path):
    status = lab_cli("status", "--dir", str(tmp_path))
    assert status.returncode == 1
    assert json.loads(status.stdout) == {"dir": str(tmp_path), "state": "absent", "healthy": False}
    down = lab_cli("down", "--dir", str(tmp_path))
    assert down.returncode == 0 and "no lab" in down.stdout


def test_usage_errors_name_the_option():
    run = lab_cli("up")
    assert run.returncode == 2 and "--dir" in run.stderr
    # --control-plane is still accepted for old scripts, but only with the one control plane there is.
    run = lab_cli("up", "--dir", "/nonexistent", "--control-plane", "emulated")
    assert run.returncode == 2 and "invalid choice: 'emulated'" in run.stderr


def _unused_network_number():
    used = {name[3:].split("-")[0].split("v")[0].split("br")[0] for name in netns_names() + link_names() if name.startswith("pdl")}
    return next(n for n in range(250, 100, -1) if str(n) not in used)


def test_down_stops_leftovers_of_a_killed_lab_process(tmp_path):
    """A lab process killed with SIGKILL leaves its children and its network: `down` stops the processes
    lab.json lists (by pid, only when their command line is a lab program), kills what still runs in the
    lab's network namespaces, and removes the namespaces, veths and bridge carrying its number."""
    number = _unused_network_number()
    netns, bridge, veth = "pdl%d-2" % number, "pdl%dbr" % number, "pdl%dv2" % number
    # A "pod" inside a netns of the lab, a leftover lab program, and a stranger whose pid was reused.
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "tests.lab-leftover"])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    in_netns = None
    try:
        subprocess.run(["ip", "netns", "add", netns], check=True)
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns], check=True)
        subprocess.run(["ip", "link", "set", veth, "master", bridge], check=True)
        in_netns = subprocess.Popen(["ip", "netns", "exec", netns, "sleep", "120"])
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "lab.json").write_text(json.dumps({
            "dir": str(tmp_path), "state": "running", "control_plane": "real",
            "network": {"number": number, "bridge": bridge, "netns_prefix": "pdl%d-" % number},
            "pids": {"supervisor": dead.pid, "prometheus": None, "envoys": [], "control_plane": {"etcd": leftover.pid},
                     "pods": [stranger.pid]},
        }))
        down = lab_cli("down", "--dir", str(tmp_path))
        assert down.returncode == 0, down.stderr
        assert leftover.wait(timeout=10) is not None
        assert in_netns.wait(timeout=10) is not None
        assert stranger.poll() is None and alive(stranger.pid)
        assert netns not in netns_names()
        assert not {bridge, veth} & set(link_names())
        assert json.loads((tmp_path / "lab.json").read_text())["state"] == "stopped"
    finally:
        for process in (leftover, stranger, in_netns):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)

