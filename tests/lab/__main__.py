"""python -m tests.lab up|status|down|serve --dir DIR (see docs/lab.md).

``up`` starts ``serve`` (``tests/lab/real/lab.py``) in the background and returns once lab.json says
``running``; ``down`` stops it and then removes whatever it left (processes listed in lab.json,
the lab's network namespaces and links), also after a failed ``up``.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .common import alive as _alive, atomic_write, lab_file, listening, read_lab, signal_pid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UP_TIMEOUT = float(os.environ.get("LAB_UP_TIMEOUT") or 180.0)
# Every process the lab owns runs one of these; a pid from lab.json is only signalled when its
# command line still matches (pids are reused by the OS).
OWNED_COMMANDS = ("tests.lab", "envoy", "prometheus", "progressive-delivery/")  # the last: the upstream programs' cache


def _owned(pid) -> bool:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return False
    return any(marker in cmdline for marker in OWNED_COMMANDS)


def _all_pids(info: dict) -> list:
    pids = info.get("pids") or {}
    result = [pids.get("supervisor"), pids.get("envoy"), pids.get("prometheus")] + list(pids.get("pods") or [])
    result += list(pids.get("envoys") or []) + list((pids.get("control_plane") or {}).values())
    return sorted({pid for pid in result if pid}, key=result.index)


def _ports(info: dict) -> list:
    ports = [info.get("ingress_port")] + list(info.get("listen_ports") or [])
    return sorted({p for p in ports if p})


def _listening(port: int) -> bool:
    return listening("127.0.0.1", port)


def _http_ok(url: str, headers=None) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError):
        return False


def cmd_up(args) -> int:
    directory = os.path.abspath(args.dir)
    info = read_lab(directory)
    if info and _alive((info.get("pids") or {}).get("supervisor")) and info.get("state") not in ("stopped", "failed"):
        print("a lab is already running in %s (pid %s): run `python -m tests.lab down --dir %s` first"
              % (directory, info["pids"]["supervisor"], directory), file=sys.stderr)
        return 1
    if info is not None:
        down(directory)  # a lab whose supervisor died may have left processes behind
        os.remove(lab_file(directory))
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    started = time.monotonic()
    with open(os.path.join(directory, "logs", "serve.out"), "ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "tests.lab", "serve", "--dir", directory],
                                   cwd=REPO_ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        info = read_lab(directory) or {}
        if info.get("state") in ("running", "degraded"):
            break
        if process.poll() is not None or info.get("state") in ("failed", "stopped"):
            try:
                process.wait(60)  # the lab process stops what it started before it exits
            except subprocess.TimeoutExpired:
                pass
            info = read_lab(directory) or info
            left = down(directory)  # and whatever it could not stop
            print("the lab failed to start (exit code %s): %s\nsee %s/logs/lab.log%s"
                  % (process.poll(), "; ".join(info.get("errors") or []) or "no details", directory,
                     "\nstill alive after down: %s" % ", ".join(left) if left else ""), file=sys.stderr)
            return 1
        if time.monotonic() - started > UP_TIMEOUT:
            print("the lab was not ready after %.0f s (last step: %s); stopping it; see %s/logs/lab.log"
                  % (UP_TIMEOUT, _last_step(info), directory), file=sys.stderr)
            down(directory)
            return 1
        time.sleep(0.1)
    keys = ("kubeconfig", "api", "mesh", "ingress", "prometheus", "envoy_admin", "ready_seconds",
            "control_plane", "kubectl", "istiod", "ingress_admin", "timings")
    summary = {k: info.get(k) for k in keys}
    print(json.dumps(summary, indent=2))
    return 0


def status(directory: str) -> dict:
    info = read_lab(directory)
    if info is None:
        return {"dir": os.path.abspath(directory), "state": "absent", "healthy": False}
    from .real.status import status as real_status
    return real_status(info, _alive, _http_ok, _listening)


def cmd_status(args) -> int:
    result = status(args.dir)
    print(json.dumps(result, indent=2))
    return 0 if result["healthy"] else 1


def down(directory: str, timeout: float = 20.0) -> list:
    """Stop the supervisor (which stops its children), then any owned pid still alive. Returns leftovers."""
    info = read_lab(directory)
    if info is None:
        return []
    supervisor = (info.get("pids") or {}).get("supervisor")
    if _alive(supervisor) and _owned(supervisor):
        signal_pid(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.05)
    info = read_lab(directory) or info  # the supervisor rewrites it while stopping, with the last pids
    leftovers = [pid for pid in _all_pids(info) if _alive(pid) and _owned(pid)]
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in leftovers:
            signal_pid(pid, signum)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)
        leftovers = [pid for pid in leftovers if _alive(pid)]
        if not leftovers:
            break
    deadline = time.monotonic() + 5
    while any(_listening(port) for port in _ports(info)) and time.monotonic() < deadline:
        time.sleep(0.05)
    still = ["pid %d" % pid for pid in leftovers] + ["port %d" % port for port in _ports(info) if _listening(port)]
    if info.get("mesh_address"):
        still += ["port %s:%d" % (info["mesh_address"], port) for port in info.get("mesh_ports") or []
                  if listening(info["mesh_address"], port)]
    if info.get("network"):  # its network namespaces (and any process still in one), veths and bridge
        from .real.network import cleanup
        still += ["network %s" % name for name in cleanup(info["network"])]
    if info.get("state") not in ("stopped", "failed"):  # a failed start stays "failed", with its errors
        info["state"] = "stopped"
        atomic_write(lab_file(directory), json.dumps(info, indent=2, sort_keys=True) + "\n")
    return still


def cmd_down(args) -> int:
    if read_lab(args.dir) is None:
        print("no lab in %s" % os.path.abspath(args.dir))
        return 0
    leftovers = down(args.dir)
    if leftovers:
        print("still alive after down: %s" % ", ".join(leftovers), file=sys.stderr)
        return 1
    print("lab in %s stopped" % os.path.abspath(args.dir))
    return 0


def _last_step(info: dict) -> str:
    timings = info.get("timings") or {}
    return max(timings, key=timings.get) if timings else "none finished"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="The local lab: upstream Kubernetes and istiod, Envoy, Prometheus, podinfo pods.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("up", "start a lab in the background and wait until it is ready"),
                            ("status", "check every part of a running lab (exit 1 when unhealthy)"),
                            ("down", "stop the lab and every process it started"),
                            ("serve", "run a lab in the foreground until SIGTERM/SIGINT")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--dir", required=True, help="lab directory: lab.json, kubeconfig, logs/")
        if name in ("up", "serve"):
            # Kept for scripts written while there were two control planes; "real" is the only one.
            sub.add_argument("--control-plane", choices=("real",), default="real", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .real.lab import serve
        return serve(args.dir)
    return {"up": cmd_up, "status": cmd_status, "down": cmd_down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
