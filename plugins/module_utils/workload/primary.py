# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The primary Deployment (``<target>-primary``), its HPA, the pod-template hash and rollout status."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import PRIMARY_SUFFIX, managed_labels, primary_name
from ansible_collections.progressive.delivery.plugins.module_utils.workload.config import rewrite_pod_spec

# Flagger's default selector labels, in its order of preference.
APP_LABELS = ("app", "name", "app.kubernetes.io/name")

HASH_ANNOTATION = "progressive.delivery/pod-template-hash"
CONFIG_CHECKSUM_ANNOTATION = "progressive.delivery/config-checksum"

# Fields of a Deployment spec copied to the primary at creation (replicas and selector are set apart).
_COPIED_SPEC_FIELDS = ("strategy", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds")


def _describe(deployment):
    metadata = deployment.get("metadata") or {}
    return "Deployment %s/%s" % (metadata.get("namespace"), metadata.get("name"))


def app_label(deployment):
    """``(key, value)`` of the label that identifies the app in the selector and pod template."""
    selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    template_labels = (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    for key in APP_LABELS:
        if key in selector:
            if template_labels.get(key) != selector[key]:
                raise CanaryError("%s: the pod template label %s=%r differs from spec.selector.matchLabels.%s=%r; make them equal"
                                  % (_describe(deployment), key, template_labels.get(key), key, selector[key]), field="target")
            if len(primary_name(str(selector[key]))) > 63:
                raise CanaryError("%s: the label %s=%s gets the suffix %s on the primary, and a label value may have at most 63 "
                                  "characters: shorten it to at most %d" % (_describe(deployment), key, selector[key], PRIMARY_SUFFIX,
                                                                            63 - len(PRIMARY_SUFFIX)), field="target")
            return key, selector[key]
    raise CanaryError("%s has none of the labels %s in spec.selector.matchLabels; add one of them (for example `app: %s`) "
                      "to the selector and the pod template labels"
                      % (_describe(deployment), ", ".join(APP_LABELS), (deployment.get("metadata") or {}).get("name")),
                      field="target")


def first_container_port(deployment):
    for container in (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("containerPort"):
                return port["containerPort"]
    raise CanaryError("%s declares no containerPort; set the port option" % _describe(deployment), field="port")


def pod_template_hash(template, config_checksum=""):
    """A stable hash of the target's pod template plus the checksum of its tracked configs.

    Like Flagger's lastAppliedSpec: the same template (and configs) always gives the same value,
    whatever the key order, so a manual revert is recognised.
    """
    content = {"template": template or {}, "configs": config_checksum or ""}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()[:16]


def target_hash(target, config_checksum=""):
    return pod_template_hash((target.get("spec") or {}).get("template"), config_checksum)


def primary_selector(target):
    key, value = app_label(target)
    return {key: primary_name(value)}


def canary_selector(target):
    key, value = app_label(target)
    return {key: value}


def primary_template(target, renames, config_checksum=""):
    """The target's pod template for the primary: app label suffixed, configs renamed."""
    key, value = app_label(target)
    template = copy.deepcopy((target.get("spec") or {}).get("template") or {})
    metadata = template.setdefault("metadata", {})
    metadata.pop("creationTimestamp", None)
    labels = dict(metadata.get("labels") or {})
    labels[key] = primary_name(value)
    metadata["labels"] = labels
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(CONFIG_CHECKSUM_ANNOTATION, None)
    if config_checksum:
        # Pods must restart when only a tracked ConfigMap/Secret changed.
        annotations[CONFIG_CHECKSUM_ANNOTATION] = config_checksum
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    template["spec"] = rewrite_pod_spec(template.get("spec") or {}, renames)
    return template


def build_primary_deployment(target, renames, config_checksum=""):
    """A new ``<target>-primary`` Deployment running the target's pod template."""
    metadata = target.get("metadata") or {}
    spec = target.get("spec") or {}
    key, value = app_label(target)
    labels = dict(metadata.get("labels") or {})
    if key in labels:
        labels[key] = primary_name(value)
    replicas = spec.get("replicas")
    new_spec = {
        # A target already scaled to 0 by an earlier initialisation must not give an empty primary.
        "replicas": replicas if replicas else 1,
        "selector": {"matchLabels": primary_selector(target)},
        "template": primary_template(target, renames, config_checksum),
    }
    for field in _COPIED_SPEC_FIELDS:
        if field in spec:
            new_spec[field] = copy.deepcopy(spec[field])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": primary_name(metadata["name"]),
            "namespace": metadata.get("namespace"),
            "labels": managed_labels(labels),
            "annotations": {HASH_ANNOTATION: target_hash(target, config_checksum)},
        },
        "spec": new_spec,
    }


def _running(primary, template, target, config_checksum):
    """``primary`` with ``template``, annotated with the promoted revision."""
    result = copy.deepcopy(primary)
    result["spec"]["template"] = template
    annotations = dict(result["metadata"].get("annotations") or {})
    annotations[HASH_ANNOTATION] = target_hash(target, config_checksum)
    result["metadata"]["annotations"] = annotations
    return result


def promoted_deployment(primary, target, renames, config_checksum=""):
    """``primary`` running the target's current pod template (the promotion)."""
    return _running(primary, primary_template(target, renames, config_checksum), target, config_checksum)


def promoted_stable(stable, target, renames, config_checksum=""):
    """``stable`` (the user's Deployment of the primary subset) running the target's pod template.

    Argo Rollouts' subset mode rather than Flagger's copy: the stable subset now selects the new version.
    The stable keeps every pod label it has (its subset's and its selector's among them, so its pods stay
    in the primary subset and never join the canary's) and gains the target's other labels; replicas,
    selector and strategy stay the user's.
    """
    template = primary_template(target, renames, config_checksum)
    own_labels = (((stable.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    key, value = app_label(target)
    labels[key] = value  # primary_template suffixed it for <target>-primary
    labels.update(own_labels)
    template.setdefault("metadata", {})["labels"] = labels
    return _running(stable, template, target, config_checksum)


def promoted_hash(primary):
    return ((primary.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)


def build_primary_hpa(hpa, primary_deployment_name):
    """``<hpa>-primary``: the same autoscaling spec pointed at the primary Deployment."""
    metadata = hpa.get("metadata") or {}
    spec = copy.deepcopy(hpa.get("spec") or {})
    spec.setdefault("scaleTargetRef", {})
    spec["scaleTargetRef"]["name"] = primary_deployment_name
    spec["scaleTargetRef"].setdefault("kind", "Deployment")
    spec["scaleTargetRef"].setdefault("apiVersion", "apps/v1")
    return {
        "apiVersion": hpa.get("apiVersion") or "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": primary_name(metadata["name"]),
            "namespace": metadata.get("namespace"),
            "labels": managed_labels(metadata.get("labels")),
        },
        "spec": spec,
    }


def check_hpa_targets(hpa, target_name):
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    if ref.get("name") != target_name or ref.get("kind", "Deployment") != "Deployment":
        raise CanaryError("HorizontalPodAutoscaler %s scales %s %s, not Deployment %s; name the target's HPA in hpa"
                          % (hpa["metadata"]["name"], ref.get("kind"), ref.get("name"), target_name), field="hpa")


def status_summary(deployment):
    metadata = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    return {
        "name": metadata.get("name"),
        "replicas": (deployment.get("spec") or {}).get("replicas"),
        "ready_replicas": status.get("readyReplicas") or 0,
        "updated_replicas": status.get("updatedReplicas") or 0,
        "available_replicas": status.get("availableReplicas") or 0,
        "generation": metadata.get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "conditions": copy.deepcopy(status.get("conditions") or []),
    }
