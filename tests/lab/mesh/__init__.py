"""Istio networking objects driving one real Envoy (see tests/lab/DESIGN.md and docs/lab.md)."""

from .envoy import Envoy, EnvoyError
from .sync import MeshSync
from .translate import cluster_name, translate

__all__ = ["Envoy", "EnvoyError", "MeshSync", "cluster_name", "translate"]
