"""The kubeconfig error messages (plugins/module_utils/_kubeconfig.py), as plain functions."""

import os

import yaml

from ansible_collections.progressive.delivery.plugins.module_utils import _kubeconfig as kc

ERROR = "Could not create API client: Invalid kube-config file. No configuration found."


def config(current="lab", contexts=(("lab", "lab", "lab"),), clusters=("lab",), users=("lab",)):
    result = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": name, "cluster": {"server": "https://k8s"}} for name in clusters],
              "users": [{"name": name, "user": {"token": "t"}} for name in users],
              "contexts": [{"name": name, "context": {"cluster": cluster, "user": user}} for name, cluster, user in contexts]}
    if current:
        result["current-context"] = current
    return result


def write(path, content):
    path.write_text(yaml.safe_dump(content))
    return str(path)


def test_resolution_order_follows_kubernetes_core(tmp_path):
    env = {"K8S_AUTH_KUBECONFIG": "/from/env", "KUBECONFIG": "/from/kubeconfig"}
    assert kc.source({"kubeconfig": "/from/option"}, env, "/from/kubeconfig").kind == kc.OPTION
    assert kc.source({"kubeconfig": {"clusters": []}}, env, "/from/kubeconfig").kind == kc.INLINE
    found = kc.source({}, env, "/from/kubeconfig")
    assert (found.kind, found.paths) == (kc.ENVIRONMENT, ["/from/env"])
    found = kc.source({}, {"KUBECONFIG": "/a:/b"}, "/a:/b")
    assert (found.kind, found.paths) == (kc.KUBECONFIG, ["/a", "/b"])
    found = kc.source({}, {"K8S_AUTH_KUBECONFIG": ""}, "~/.kube/config")
    assert (found.kind, found.paths) == (kc.DEFAULT, [os.path.expanduser("~/.kube/config")])
    assert kc.context({"context": "a"}, {"K8S_AUTH_CONTEXT": "b"}) == ("a", "the context option")
    assert kc.context({}, {"K8S_AUTH_CONTEXT": "b"}) == ("b", "the K8S_AUTH_CONTEXT environment variable")
    assert kc.context({}, {}) == (None, None)


def test_missing_files(tmp_path):
    missing = str(tmp_path / "missing")
    message = kc.explain({"kubeconfig": missing}, {}, ERROR, "~/.kube/config", cwd="/work")
    assert message.startswith("the kubeconfig option names a file that does not exist; fix the path")
    assert missing not in message, "the option is no_log: its value is never repeated"
    message = kc.explain({"kubeconfig": "relative/kubeconfig"}, {}, ERROR, "~/.kube/config", cwd="/work")
    assert "a relative path is taken from /work, where the module runs" in message

    message = kc.explain({}, {"K8S_AUTH_KUBECONFIG": missing}, ERROR, "~/.kube/config")
    assert message.startswith("no kubeconfig file at %s, the path the K8S_AUTH_KUBECONFIG environment variable sets" % missing)

    message = kc.explain({}, {"KUBECONFIG": missing + ":" + missing + "2"}, ERROR, missing + ":" + missing + "2")
    assert message.startswith("no kubeconfig file at %s or %s2, the path the KUBECONFIG environment variable sets" % (missing, missing))

    message = kc.explain({}, {}, ERROR, missing)
    assert message.startswith("no kubeconfig file at %s, the default used since neither the kubeconfig option nor "
                              "K8S_AUTH_KUBECONFIG is set (nor KUBECONFIG), and the module does not run inside a cluster" % missing)
    # with a context the in-cluster configuration is not tried
    assert "inside a cluster" not in kc.explain({"context": "lab"}, {}, ERROR, missing)


def test_missing_or_unset_context(tmp_path):
    path = write(tmp_path / "kubeconfig", config(contexts=(("lab", "lab", "lab"), ("prod", "lab", "lab"))))
    env = {"K8S_AUTH_KUBECONFIG": path}
    message = kc.explain({"context": "staging"}, env, ERROR)
    assert message.startswith("context 'staging' (the context option) is not in the kubeconfig %s (set by the K8S_AUTH_KUBECONFIG "
                              "environment variable); its contexts: lab, prod" % path)
    message = kc.explain({}, {"K8S_AUTH_KUBECONFIG": path, "K8S_AUTH_CONTEXT": "qa"}, ERROR)
    assert message.startswith("context 'qa' (the K8S_AUTH_CONTEXT environment variable) is not in the kubeconfig %s" % path)

    ghost = write(tmp_path / "ghost", config(current="ghost"))
    message = kc.explain({"kubeconfig": ghost}, {}, ERROR)
    assert message.startswith("context 'ghost' (its current-context) is not in the kubeconfig file named by the kubeconfig option")
    assert ghost not in message

    unset = write(tmp_path / "unset", config(current=None))
    assert kc.explain({}, {"K8S_AUTH_KUBECONFIG": unset}, ERROR).startswith(
        "the kubeconfig %s (set by the K8S_AUTH_KUBECONFIG environment variable) sets no current-context; set the context option "
        "to one of its contexts: lab" % unset)

    inline = kc.explain({"kubeconfig": config(), "context": "prod"}, {}, ERROR)
    assert inline.startswith("context 'prod' (the context option) is not in the kubeconfig given inline in the kubeconfig option")


def test_a_context_naming_a_missing_cluster_or_user(tmp_path):
    path = write(tmp_path / "kubeconfig", config(contexts=(("lab", "elsewhere", "lab"),)))
    message = kc.explain({"kubeconfig": path}, {}, ERROR)
    assert "context 'lab' (its current-context) in the kubeconfig file named by the kubeconfig option uses the cluster 'elsewhere'" \
        in message and "(its clusters: lab)" in message
    path = write(tmp_path / "user", config(contexts=(("lab", "lab", "nobody"),)))
    assert "uses the user 'nobody'" in kc.explain({}, {"K8S_AUTH_KUBECONFIG": path}, ERROR)


def test_several_files_are_merged_like_the_kubernetes_library(tmp_path):
    first = write(tmp_path / "a", config(current="lab"))
    second = write(tmp_path / "b", config(current="prod", contexts=(("prod", "lab", "lab"),)))
    env = {"KUBECONFIG": first + os.pathsep + second}
    # the last current-context wins; contexts come from both files
    assert kc._context_problem(kc.source({}, env, env["KUBECONFIG"]), kc._load(kc.source({}, env, env["KUBECONFIG"])), {}, env) is None
    message = kc.explain({"context": "qa"}, env, ERROR, env["KUBECONFIG"])
    assert "its contexts: lab, prod" in message and first in message and second in message


def test_other_problems_keep_the_library_message(tmp_path):
    path = write(tmp_path / "kubeconfig", config())
    message = kc.explain({}, {"K8S_AUTH_KUBECONFIG": path}, "Could not create API client: something else")
    assert message == ("could not load the kubeconfig %s (set by the K8S_AUTH_KUBECONFIG environment variable): Could not create API "
                       "client: something else; check the kubeconfig, context and host options" % path)
    broken = tmp_path / "broken"
    broken.write_text("clusters: [")
    assert "could not load the kubeconfig %s" % broken in kc.explain({}, {"K8S_AUTH_KUBECONFIG": str(broken)}, "bad yaml")


def test_host_and_credentials_read_no_kubeconfig():
    assert not kc.uses_kubeconfig({"host": "https://k8s", "api_key": "t"}, {})
    assert not kc.uses_kubeconfig({}, {"K8S_AUTH_HOST": "https://k8s", "K8S_AUTH_API_KEY": "t"})
    assert not kc.uses_kubeconfig({"host": "https://k8s", "client_cert": "/c", "client_key": "/k"}, {})
    assert kc.uses_kubeconfig({"host": "https://k8s"}, {})
    message = kc.explain({"host": "https://k8s", "api_key": "t"}, {}, "boom")
    assert message.startswith("could not create the Kubernetes client from host and its credentials (no kubeconfig is read then): boom")
