"""Child processes of the real lab: started with a log file, waited for, stopped by process group."""

import json
import os
import subprocess
import time
from typing import Callable, List, Optional

from ..common import stop_processes

MANIFEST = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "progressive-delivery", "lab-binaries.json")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class ComponentError(RuntimeError):
    """A component did not start or become ready; the message names it and its log file."""


def load_manifest() -> dict:
    """The upstream programs (scripts/build_lab_binaries.sh); ``LAB_BINARIES_MANIFEST`` overrides the path."""
    path = os.environ.get("LAB_BINARIES_MANIFEST") or MANIFEST
    if not os.path.exists(path) and not os.environ.get("LAB_BINARIES_MANIFEST"):
        subprocess.run([os.path.join(REPO_ROOT, "scripts", "build_lab_binaries.sh")], check=True, stdout=subprocess.DEVNULL)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def ready_timeout(name: str, default: float) -> float:
    setting = (os.environ.get("LAB_READY_TIMEOUT") or "").strip()
    if not setting:
        return default
    if "=" not in setting:
        return float(setting)
    for item in setting.split(","):
        key, _, value = item.partition("=")
        if key.strip() == name:
            return float(value)
    return default


class Proc:
    def __init__(self, name: str, args: List[str], log_path: str, env: Optional[dict] = None, cwd: Optional[str] = None):
        self.name, self.args, self.log_path, self.env, self.cwd = name, args, log_path, env, cwd
        self.process: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    def start(self) -> "Proc":
        if not os.path.isfile(self.args[0]) or not os.access(self.args[0], os.X_OK):
            raise ComponentError("%s: binary %s does not exist or is not executable" % (self.name, self.args[0]))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=self.env, cwd=self.cwd, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, check: Callable[[], bool], timeout: float, stop=None) -> None:
        """Until ``check()`` is true; ComponentError naming the component and its log when it exits or
        times out. ``LAB_READY_TIMEOUT`` overrides ``timeout``: seconds for every component, or
        ``name=seconds,...`` for some (``pilot-discovery=5``; the tests use it)."""
        timeout = ready_timeout(self.name, timeout)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if not self.alive():
                raise ComponentError("%s exited with code %s before it was ready; see %s"
                                     % (self.name, self.process.returncode if self.process else None, self.log_path))
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001 - not ready yet
                last = exc
            if stop is not None and stop.is_set():
                raise ComponentError("%s: start interrupted" % self.name)
            if time.monotonic() > deadline:
                raise ComponentError("%s was not ready after %.0f s (last check: %s); see %s"
                                     % (self.name, timeout, last or "not ready", self.log_path))
            time.sleep(0.1)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
        if self.process is not None:
            stop_processes([self.process], grace)
