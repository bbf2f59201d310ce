"""Helpers of the module tests: run a module's main() in-process, seed the test's namespace of the
real lab, snapshot it, validate what was written against the real schemas."""

import contextlib
import copy
import io
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from tests.cluster import ApiError, wait_for

PODINFO_IMAGE = "ghcr.io/stefanprodan/podinfo:%s"

# Kinds the modules write; the controllers write status (and Deployments' revision annotation), so
# those are compared by content only, the others by resourceVersion as well.
WRITTEN_KINDS = [
    ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.istio.io/v1beta1", "VirtualService"),
    ("networking.istio.io/v1beta1", "DestinationRule"),
]
_STATUS_KINDS = ("Deployment", "HorizontalPodAutoscaler")
# What the controller-manager writes into every namespace by itself.
_CONTROLLER_OBJECTS = {("ConfigMap", "kube-root-ca.crt")}


class ClusterView:
    """The session's real lab as one test sees it: its namespace, the store, the kubeconfig."""

    def __init__(self, shared_lab, namespace):
        self.shared_lab = shared_lab
        self.namespace = namespace
        self.store = shared_lab.store
        self.kubeconfig = shared_lab.kubeconfig

    @property
    def info(self):
        return self.shared_lab.info

    @property
    def url(self):
        """The API server's URL (https, the lab's CA)."""
        return self.info["api"]

    @staticmethod
    def wait_for(predicate, timeout=30.0, message=""):
        return wait_for(predicate, timeout, message)


def run_module(module, lab_or_args, args=None, check=False, diff=True, **overrides):
    """Run ``module.main()`` in-process; return the result dict (``failed`` set on failure).

    With a lab, the module gets its kubeconfig and (unless ``args`` names one) the test's namespace."""
    if args is None:
        args, lab_or_args = lab_or_args, None
    module_args = dict(args)
    if lab_or_args is not None:
        module_args.setdefault("kubeconfig", str(lab_or_args.kubeconfig))
        if "namespace" not in module_args:
            module_args["namespace"] = lab_or_args.namespace
    module_args.update(overrides)
    module_args["_ansible_check_mode"] = check
    module_args["_ansible_diff"] = diff
    _forget_client_state()
    stdout = io.StringIO()
    with patch_module_args(module_args), contextlib.redirect_stdout(stdout):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(stdout.getvalue())


def _forget_client_state():
    """Each module normally runs in a fresh process: drop what the kubernetes library and
    kubernetes.core cache per process (the default configuration keeps the last kubeconfig's token
    refresh hook, and clients are pooled), so one test's credentials never leak into the next."""
    import kubernetes
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as k8s_client

    kubernetes.client.Configuration.set_default(None)
    k8s_client._pool.clear()


def snapshot(lab):
    """What the modules may write in the test's namespace, keyed by (kind, name), to prove nothing was
    written; what the controllers write by themselves (status, managedFields and resourceVersion of
    the objects they update, the Deployment revision, kube-root-ca.crt) is left out."""
    result = {}
    for api_version, kind in WRITTEN_KINDS:
        for obj in lab.store.list(api_version, kind, lab.namespace):
            meta = obj["metadata"]
            if (kind, meta["name"]) in _CONTROLLER_OBJECTS:
                continue
            content = copy.deepcopy(obj)
            content.pop("status", None)
            if kind in _STATUS_KINDS:
                content["metadata"].pop("resourceVersion", None)
                content["metadata"].pop("managedFields", None)
                # written by the Deployment controller, not by the modules
                annotations = content["metadata"].get("annotations") or {}
                annotations.pop("deployment.kubernetes.io/revision", None)
                if not annotations:
                    content["metadata"].pop("annotations", None)
            result[(kind, meta["name"])] = content
    return result


def podinfo_deployment(name="podinfo", version="6.0.1", label="app", replicas=2, namespace=None, **template_spec):
    """A podinfo Deployment (``seed`` puts it in the test's namespace unless ``namespace`` is given)."""
    spec = {
        "containers": [{
            "name": "podinfod",
            "image": PODINFO_IMAGE % version,
            "command": ["./podinfo", "--port=9898", "--port-metrics=9797", "--level=info"],
            "ports": [{"name": "http", "containerPort": 9898, "protocol": "TCP"},
                      {"name": "http-metrics", "containerPort": 9797, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9898}, "initialDelaySeconds": 0, "periodSeconds": 1},
        }],
    }
    spec.update(template_spec)
    metadata = {"name": name, "labels": {label: name}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "minReadySeconds": 0,
            "selector": {"matchLabels": {label: name}},
            "template": {"metadata": {"labels": {label: name}}, "spec": spec},
        },
    }


def edit(lab, api_version, kind, name, change):
    """Read, ``change(obj)`` in place, write; again on a conflict (the controllers write too)."""
    for _ in range(20):
        obj = lab.store.get(api_version, kind, lab.namespace, name)
        change(obj)
        try:
            return lab.store.update(obj)
        except ApiError as exc:
            if exc.code != 409:
                raise
    raise AssertionError("could not update %s %s" % (kind, name))


def seed(lab, *objects):
    """Create ``objects`` in the test's namespace (those without a namespace of their own)."""
    created = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        obj["metadata"].setdefault("namespace", lab.namespace)
        created.append(lab.store.create(obj))
    return created


# --- schema validation of what the modules wrote -----------------------------------------------


def validate_object(obj):
    """Validate against the real schemas: kubernetes-validate for built-in kinds, cloudcoil for Istio."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    if obj["apiVersion"].startswith("networking.istio.io/"):
        _validate_istio(obj)
    else:
        import kubernetes_validate

        for key in ("managedFields",):
            obj["metadata"].pop(key, None)
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def _validate_istio(obj):
    """cloudcoil ignores unknown fields, so also check that nothing was dropped on a round trip."""
    from cloudcoil.models.istio.networking import v1 as istio_v1

    model = {"VirtualService": istio_v1.VirtualService, "DestinationRule": istio_v1.DestinationRule}[obj["kind"]]
    obj["apiVersion"] = "networking.istio.io/v1"
    parsed = model.model_validate(obj)
    dumped = parsed.model_dump(by_alias=True, exclude_none=True, mode="json")
    spec_in, spec_out = obj["spec"], dumped["spec"]
    assert _normalise(spec_out) == _normalise(spec_in), "fields not in the Istio schema: %s" % json.dumps(spec_in)


def _normalise(value):
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
