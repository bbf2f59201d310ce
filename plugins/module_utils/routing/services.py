# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three ClusterIP Services of a canary: ``<apex>`` and ``<apex>-primary`` select the primary
pods, ``<apex>-canary`` the target's pods."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import canary_name, check_name, managed_labels, primary_name

# IANA_SVC_NAME, the rule for a container port name (what a named targetPort refers to).
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def validate_port_name(port_name):
    """A Service port name: a DNS-1123 label (Istio reads the protocol from its prefix, e.g. http, grpc)."""
    return check_name(port_name, "port_name", "label", what="a Service port name")


def validate_target_port(target_port):
    """A port number 1-65535 or a container port name (at most 15 characters, a letter among them); None is kept."""
    if target_port is None:
        return None
    if isinstance(target_port, str) and target_port.isdigit():
        target_port = int(target_port)
    if isinstance(target_port, int) and not isinstance(target_port, bool):
        if not 0 < target_port < 65536:
            raise CanaryError("target_port must be 1-65535 or a container port name, got %r" % (target_port,), field="target_port")
        return target_port
    if not isinstance(target_port, str) or not target_port:
        raise CanaryError("target_port must be a port number or a container port name, got %r" % (target_port,), field="target_port")
    if len(target_port) > 15 or not _PORT_NAME.match(target_port) or "--" in target_port or not re.search("[a-z]", target_port):
        raise CanaryError("target_port %r is not a valid container port name: at most 15 lowercase letters, digits and '-' with at "
                          "least one letter, no '--' and no '-' at either end; use the name of a port of the target's containers "
                          "or its number" % target_port, field="target_port")
    return target_port


def service_port(port, port_name="http", target_port=None):
    """The single port of the canary Services (``target_port`` defaults to ``port``)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise CanaryError("port must be a TCP port number from 1 to 65535, got %r" % (port,), field="port")
    validate_port_name(port_name)
    target_port = validate_target_port(target_port)
    if target_port is None:
        target_port = port
    return {"name": port_name, "port": port, "targetPort": target_port, "protocol": "TCP"}


def build_service(namespace, name, selector, port, labels=None):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": managed_labels(labels)},
        "spec": {"type": "ClusterIP", "selector": dict(selector), "ports": [copy.deepcopy(port)]},
    }


def build_services(namespace, apex, primary_selector, canary_selector, port, labels=None):
    """``[<apex>, <apex>-primary, <apex>-canary]``."""
    return [
        build_service(namespace, apex, primary_selector, port, labels),
        build_service(namespace, primary_name(apex), primary_selector, port, labels),
        build_service(namespace, canary_name(apex), canary_selector, port, labels),
    ]
