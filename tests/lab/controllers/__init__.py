"""The lab's controllers (see tests/lab/DESIGN.md): Deployment, ReplicaSet, kubelet, Endpoints, HPA status."""

from typing import Optional

from .deployment import DeploymentController
from .endpoints import EndpointsController
from .hpa import HpaController
from .kubelet import APP_MODULE, Kubelet
from .manager import Manager
from .replicaset import ReplicaSetController


class Controllers:
    def __init__(self, store, pods: str = "simulated", log_dir: Optional[str] = None, app_module: str = APP_MODULE):
        self.manager = Manager(store)
        self.deployments = DeploymentController(self.manager)
        self.replicasets = ReplicaSetController(self.manager)
        self.kubelet = Kubelet(self.manager, pods=pods, log_dir=log_dir, app_module=app_module)
        self.endpoints = EndpointsController(self.manager)
        self.hpa = HpaController(self.manager)

    def pids(self):
        """Process ids of the running pod processes (pods="processes")."""
        return self.kubelet.pids()

    def stop(self) -> None:
        self.manager.stop()
        self.kubelet.stop()


def start_controllers(store, pods: str = "simulated", log_dir: Optional[str] = None, app_module: str = APP_MODULE) -> Controllers:
    controllers = Controllers(store, pods=pods, log_dir=log_dir, app_module=app_module)
    controllers.manager.start()
    return controllers


__all__ = ["Controllers", "start_controllers"]
