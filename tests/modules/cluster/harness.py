"""Helpers of the module tests: run a module's main() in-process, seed the emulator, snapshot it,
validate what was written against the real schemas."""

import contextlib
import copy
import io
import json

import pytest
from ansible.module_utils.testing import patch_module_args


NAMESPACE = "test"
PODINFO_IMAGE = "ghcr.io/stefanprodan/podinfo:%s"

# Kinds the modules write; Deployments and HPAs get status from controllers, so they are compared by
# content, the others by resourceVersion as well.
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


def run_module(module, lab_or_args, args=None, check=False, diff=True, **overrides):
    """Run ``module.main()`` in-process; return the result dict (``failed`` set on failure)."""
    if args is None:
        args, lab_or_args = lab_or_args, None
    module_args = dict(args)
    if lab_or_args is not None:
        module_args.setdefault("kubeconfig", str(lab_or_args.kubeconfig))
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


def ensure_namespace(store, name):
    if store.get("v1", "Namespace", None, name) is None:
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def snapshot(store):
    """What the modules may write, keyed by (kind, namespace, name), to prove nothing was written."""
    result = {}
    for api_version, kind in WRITTEN_KINDS:
        for obj in store.list(api_version, kind):
            meta = obj["metadata"]
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
            result[(kind, meta.get("namespace"), meta["name"])] = content
    return result


def podinfo_deployment(name="podinfo", version="6.0.1", label="app", replicas=2, namespace=NAMESPACE, **template_spec):
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
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {label: name}},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": 0,
            "selector": {"matchLabels": {label: name}},
            "template": {"metadata": {"labels": {label: name}}, "spec": spec},
        },
    }


def edit(store, api_version, kind, name, change, namespace=NAMESPACE):
    """Read, ``change(obj)`` in place, write; again on a conflict (the controllers write too)."""
    from tests.lab.apiserver.errors import ApiError

    for _ in range(20):
        obj = store.get(api_version, kind, namespace, name)
        change(obj)
        try:
            return store.update(obj)
        except ApiError as exc:
            if exc.code != 409:
                raise
    raise AssertionError("could not update %s %s" % (kind, name))


def seed(store, *objects, namespace=NAMESPACE):
    ensure_namespace(store, namespace)
    return [store.create(copy.deepcopy(obj)) for obj in objects]


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
