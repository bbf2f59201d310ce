"""pytest helpers: a whole emulated cluster (API server + controllers) in the test process."""

import contextlib
import os
import time
from typing import Callable, Optional

from . import start_apiserver


class Cluster:
    def __init__(self, api, controllers, kubeconfig: str):
        self.api = api
        self.controllers = controllers
        self.url = api.url
        self.token = api.token
        self.store = api.store
        self.kubeconfig = kubeconfig

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, message: str = ""):
        """Poll `predicate` until it returns something truthy; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, message or predicate))
            time.sleep(interval)


@contextlib.contextmanager
def running_cluster(tmp_path, pods: str = "simulated", namespace: str = "default", app_module: Optional[str] = None):
    """API server + controllers; kubeconfig at tmp_path / "kubeconfig". Everything stops on exit."""
    from ..controllers import APP_MODULE, start_controllers

    api = start_apiserver()
    controllers = None
    try:
        controllers = start_controllers(api.store, pods=pods, log_dir=os.path.join(str(tmp_path), "pod-logs"),
                                        app_module=app_module or APP_MODULE)
        kubeconfig = api.write_kubeconfig(os.path.join(str(tmp_path), "kubeconfig"), namespace=namespace)
        yield Cluster(api, controllers, kubeconfig)
    finally:
        if controllers is not None:
            controllers.stop()
        api.stop()
