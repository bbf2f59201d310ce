"""A podinfo-compatible sample app (``python -m tests.lab.podinfo``).

It answers the endpoints, flags and environment variables of stefanprodan/podinfo that canary
tutorials rely on, so Flagger's tutorial Deployment runs unchanged as a local process.
"""

from tests.lab.podinfo.app import Config, PodinfoServer, main, parse_config

__all__ = ["Config", "PodinfoServer", "main", "parse_config"]
