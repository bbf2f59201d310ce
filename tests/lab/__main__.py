"""python -m tests.lab up|status|down|serve --dir DIR (see docs/lab.md)."""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .supervisor import lab_file, read_lab, serve

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UP_TIMEOUT = 60.0
REAL_UP_TIMEOUT = 180.0
# Every process the lab owns runs one of these; a pid from lab.json is only signalled when its
# command line still matches (pids are reused by the OS).
OWNED_COMMANDS = ("tests.lab", "envoy", "prometheus", "progressive-delivery/")  # the last: the upstream programs' cache


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


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
    result += list(pids.get("envoys") or []) + list((pids.get("control_plane") or {}).values())  # --control-plane real
    return sorted({pid for pid in result if pid}, key=result.index)


def _ports(info: dict) -> list:
    ports = [info.get("mesh_port"), info.get("ingress_port")]
    for key in ("api", "prometheus", "envoy_admin"):
        if info.get(key):
            ports.append(int(info[key].rsplit(":", 1)[1]))
    ports += info.get("listen_ports") or []  # --control-plane real
    return sorted({p for p in ports if p})


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


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
        process = subprocess.Popen([sys.executable, "-m", "tests.lab", "serve", "--dir", directory, "--control-plane", args.control_plane],
                                   cwd=REPO_ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        info = read_lab(directory) or {}
        if info.get("state") in ("running", "degraded"):
            break
        if process.poll() is not None or info.get("state") in ("failed", "stopped"):
            print("the lab failed to start (exit code %s): %s\nsee %s/logs/lab.log"
                  % (process.poll(), "; ".join(info.get("errors") or []) or "no details", directory), file=sys.stderr)
            return 1
        timeout = UP_TIMEOUT if args.control_plane == "emulated" else REAL_UP_TIMEOUT
        if time.monotonic() - started > timeout:
            print("the lab was not ready after %.0f s; stopping it; see %s/logs/lab.log" % (timeout, directory), file=sys.stderr)
            cmd_down(args)
            return 1
        time.sleep(0.1)
    keys = ("kubeconfig", "api", "mesh", "ingress", "prometheus", "envoy_admin", "ready_seconds")
    if info.get("control_plane") == "real":
        keys += ("control_plane", "kubectl", "istiod", "ingress_admin", "timings")
    summary = {k: info.get(k) for k in keys}
    print(json.dumps(summary, indent=2))
    return 0


def status(directory: str) -> dict:
    info = read_lab(directory)
    if info is None:
        return {"dir": os.path.abspath(directory), "state": "absent", "healthy": False}
    if info.get("control_plane") == "real":
        from .real.status import status as real_status
        return real_status(info, _alive, _http_ok, _listening)
    pids = info.get("pids") or {}
    checks = {
        "supervisor": _alive(pids.get("supervisor")),
        "envoy": _alive(pids.get("envoy")) and _http_ok((info.get("envoy_admin") or "") + "/ready"),
        "prometheus": _alive(pids.get("prometheus")) and _http_ok((info.get("prometheus") or "") + "/-/ready"),
        "api": _http_ok((info.get("api") or "") + "/version", {"Authorization": "Bearer %s" % info.get("token")}),
        "mesh": bool(info.get("mesh_port")) and _listening(info["mesh_port"]),
        "ingress": bool(info.get("ingress_port")) and _listening(info["ingress_port"]),
        "pods": {str(pid): _alive(pid) for pid in pids.get("pods") or []},
    }
    healthy = info.get("state") == "running" and all(v for k, v in checks.items() if k != "pods") and all(checks["pods"].values())
    return {"dir": info.get("dir"), "state": info.get("state"), "healthy": healthy, "checks": checks, "errors": info.get("errors"),
            "api": info.get("api"), "mesh": info.get("mesh"), "ingress": info.get("ingress"), "prometheus": info.get("prometheus")}


def cmd_status(args) -> int:
    result = status(args.dir)
    print(json.dumps(result, indent=2))
    return 0 if result["healthy"] else 1


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def down(directory: str, timeout: float = 20.0) -> list:
    """Stop the supervisor (which stops its children), then any owned pid still alive. Returns leftovers."""
    info = read_lab(directory)
    if info is None:
        return []
    supervisor = (info.get("pids") or {}).get("supervisor")
    if _alive(supervisor) and _owned(supervisor):
        _signal(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.05)
    info = read_lab(directory) or info  # the supervisor rewrites it while stopping, with the last pids
    leftovers = [pid for pid in _all_pids(info) if _alive(pid) and _owned(pid)]
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in leftovers:
            _signal(pid, signum)
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
    if info.get("network"):  # --control-plane real: its network namespaces, veths and bridge
        from .real.network import cleanup
        still += ["network %s" % name for name in cleanup(info["network"])]
    if info.get("state") != "stopped":
        info["state"] = "stopped"
        with open(lab_file(directory), "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2, sort_keys=True)
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
            sub.add_argument("--control-plane", choices=("emulated", "real"), default="real",
                             help="upstream Kubernetes + istiod (default), or the emulated API server and controllers (being retired)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.control_plane == "real":
            from .real.lab import serve as serve_real
            return serve_real(args.dir)
        return serve(args.dir)
    return {"up": cmd_up, "status": cmd_status, "down": cmd_down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
