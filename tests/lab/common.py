"""Small helpers every part of the lab shares (standard library only, so ``tests/lab/prometheus.py``
and the analysis suite can use them too): lab.json, free ports, atomic writes, process checks and
stopping processes (SIGTERM to the process group, then SIGKILL)."""

import json
import os
import signal
import socket
import subprocess
import time
from typing import Iterable, Optional

LAB_FILE = "lab.json"


def lab_file(directory: str) -> str:
    return os.path.join(os.path.abspath(directory), LAB_FILE)


def read_lab(directory: str) -> Optional[dict]:
    """``DIR/lab.json`` as a dict, ``None`` when there is none."""
    try:
        with open(lab_file(directory), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


# Ports handed out recently, by every lab on the machine: a port is free when it is handed out but bound only
# when its program starts, seconds later, and labs started side by side (pytest workers, Molecule beside pytest)
# could otherwise be handed the same one.
_PORT_REGISTRY = os.path.join(os.environ.get("TMPDIR", "/tmp"), "progressive-delivery-lab-ports.json")
_PORT_HOLD_SECONDS = 600


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS considers free right now (bind to port 0) that no lab was handed in the last ten minutes."""
    from filelock import FileLock

    with FileLock(_PORT_REGISTRY + ".lock"):
        now = time.time()
        try:
            with open(_PORT_REGISTRY, encoding="utf-8") as handle:
                recent = {int(port): at for port, at in json.load(handle).items() if now - at < _PORT_HOLD_SECONDS}
        except (OSError, ValueError):
            recent = {}
        for _attempt in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
            if port not in recent:
                break
        recent[port] = now
        atomic_write(_PORT_REGISTRY, json.dumps(recent))
        return port


def atomic_write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename: readers
    (the CLI, Prometheus' file_sd) see the old or the new content, never half of it."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def alive(pid: Optional[int]) -> bool:
    """The process exists and is not a zombie."""
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


def listening(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def signal_pid(pid: int, signum: int, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signum)
    except ProcessLookupError:
        pass


def stop_processes(processes: Iterable[subprocess.Popen], grace: float = 5.0, group: bool = True, kill_wait: float = 5.0) -> None:
    """SIGTERM every running process (its whole process group when ``group``: the lab starts each
    with ``start_new_session=True``), wait up to ``grace`` seconds for all of them, then SIGKILL
    what is left and reap it."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        signal_pid(process.pid, signal.SIGTERM, group)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in running:
        if process.poll() is None:
            signal_pid(process.pid, signal.SIGKILL, group)
            try:
                process.wait(kill_wait)
            except subprocess.TimeoutExpired:
                pass
