# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why kubernetes.core could not build its client from a kubeconfig, in words the user can act on.

kubernetes.core resolves the kubeconfig as the ``kubeconfig`` option, else ``K8S_AUTH_KUBECONFIG``,
else (after trying the in-cluster service account, unless a context is set) the kubernetes
library's default: ``KUBECONFIG`` or ``~/.kube/config``. The context is the ``context`` option,
else ``K8S_AUTH_CONTEXT``, else the file's ``current-context``. The library's own message ("Invalid
kube-config file. No configuration found.") names neither the file nor where its path came from;
``explain`` does.

The value of the ``kubeconfig`` option is never repeated: kubernetes.core declares it ``no_log``
(it may hold a whole configuration inline), so Ansible would mask it anyway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

try:
    import yaml
except ImportError:  # the kubernetes library needs PyYAML: without it nothing here is reached
    yaml = None

OPTION = "option"
ENVIRONMENT = "K8S_AUTH_KUBECONFIG"
KUBECONFIG = "KUBECONFIG"
DEFAULT = "default"
INLINE = "inline"


class Source(object):
    """Where the kubeconfig came from: ``kind`` (one of the constants above), ``paths``, or the inline ``config``."""

    def __init__(self, kind, paths=(), config=None, relative=False):
        self.kind = kind
        self.paths = list(paths)
        self.config = config
        self.relative = relative

    def describe(self):
        """The kubeconfig, for a message ("the kubeconfig /x (set by K8S_AUTH_KUBECONFIG)")."""
        if self.kind == INLINE:
            return "the kubeconfig given inline in the kubeconfig option"
        if self.kind == OPTION:
            return "the kubeconfig file named by the kubeconfig option"
        where = ", ".join(self.paths)
        if self.kind == ENVIRONMENT:
            return "the kubeconfig %s (set by the K8S_AUTH_KUBECONFIG environment variable)" % where
        if self.kind == KUBECONFIG:
            return "the kubeconfig %s (set by the KUBECONFIG environment variable)" % where
        return "the kubeconfig %s (the default)" % where


def _split(value):
    return [os.path.expanduser(path) for path in value.split(os.pathsep) if path]


def source(params, environ, default_location):
    """The kubeconfig kubernetes.core loads for these module ``params`` and this environment."""
    value = params.get("kubeconfig")
    if isinstance(value, dict):
        return Source(INLINE, config=value)
    if value is not None and value != "":
        text = str(value)
        return Source(OPTION, _split(text), relative=any(not os.path.isabs(path) for path in _split(text)))
    if environ.get("K8S_AUTH_KUBECONFIG"):
        return Source(ENVIRONMENT, _split(environ["K8S_AUTH_KUBECONFIG"]))
    location = default_location or "~/.kube/config"
    if environ.get("KUBECONFIG") and environ["KUBECONFIG"] == location:
        return Source(KUBECONFIG, _split(location))
    return Source(DEFAULT, _split(location))


def context(params, environ):
    """``(name, what set it)`` of the context asked for, or ``(None, None)`` for the file's current-context."""
    if params.get("context"):
        return params["context"], "the context option"
    if environ.get("K8S_AUTH_CONTEXT"):
        return environ["K8S_AUTH_CONTEXT"], "the K8S_AUTH_CONTEXT environment variable"
    return None, None


def _missing(found, params, environ, cwd):
    if found.kind == OPTION:
        hint = " (a relative path is taken from %s, where the module runs)" % cwd if found.relative and cwd else ""
        return ("the kubeconfig option names a file that does not exist%s; fix the path, or leave the option out to use "
                "K8S_AUTH_KUBECONFIG or ~/.kube/config" % hint)
    paths = " or ".join(found.paths) or "(an empty path)"
    if found.kind == ENVIRONMENT:
        return ("no kubeconfig file at %s, the path the K8S_AUTH_KUBECONFIG environment variable sets (the kubeconfig option is "
                "not set); fix the variable, or set the kubeconfig option" % paths)
    unset = "neither the kubeconfig option nor K8S_AUTH_KUBECONFIG is set"
    cluster = "" if context(params, environ)[0] else ", and the module does not run inside a cluster (no service account found)"
    if found.kind == KUBECONFIG:
        return ("no kubeconfig file at %s, the path the KUBECONFIG environment variable sets (used since %s)%s; fix KUBECONFIG, "
                "or set the kubeconfig option or K8S_AUTH_KUBECONFIG" % (paths, unset, cluster))
    return ("no kubeconfig file at %s, the default used since %s (nor KUBECONFIG)%s; set the kubeconfig option or "
            "K8S_AUTH_KUBECONFIG to your kubeconfig, or give host and api_key" % (paths, unset, cluster))


def _load(found):
    """The merged configuration as the kubernetes library merges it (first definition of a name wins,
    the last ``current-context`` wins), or None when it cannot be read."""
    if found.kind == INLINE:
        return found.config
    if yaml is None:
        return None
    merged = {"contexts": [], "clusters": [], "users": []}
    for path in found.paths:
        if not os.path.exists(path):
            continue
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle)
        except (IOError, OSError, yaml.YAMLError):
            return None
        if not isinstance(config, dict):
            return None
        for key in ("contexts", "clusters", "users"):
            known = set(item.get("name") for item in merged[key])
            merged[key].extend(item for item in config.get(key) or [] if isinstance(item, dict) and item.get("name") not in known)
        if "current-context" in config:
            merged["current-context"] = config["current-context"]
    return merged


def _names(items):
    return ", ".join(sorted(str(item.get("name")) for item in items)) or "none"


def _context_problem(found, config, params, environ):
    wanted, set_by = context(params, environ)
    where = found.describe()
    contexts = config.get("contexts") or []
    if wanted is None:
        wanted = config.get("current-context")
        if not wanted:
            return "%s sets no current-context; set the context option to one of its contexts: %s" % (where, _names(contexts))
        set_by = "its current-context"
    entry = [item for item in contexts if item.get("name") == wanted]
    if not entry:
        return ("context %r (%s) is not in %s; its contexts: %s. Set the context option to one of them, or use the kubeconfig "
                "that defines %r" % (wanted, set_by, where, _names(contexts), wanted))
    spec = entry[0].get("context") or {}
    for key, items in (("cluster", config.get("clusters") or []), ("user", config.get("users") or [])):
        name = spec.get(key)
        if key == "cluster" and not name:
            return "context %r (%s) in %s names no cluster; add one to the context" % (wanted, set_by, where)
        if name and not [item for item in items if item.get("name") == name]:
            return ("context %r (%s) in %s uses the %s %r, which is not defined there (its %ss: %s)"
                    % (wanted, set_by, where, key, name, key, _names(items)))
    return None


def _auth(params, environ, name, *env_names):
    if params.get(name):
        return True
    return any(environ.get("K8S_AUTH_%s" % env_name) for env_name in (name.upper(),) + env_names)


def uses_kubeconfig(params, environ):
    """False when host and credentials are given, so kubernetes.core loads no kubeconfig at all."""
    if not _auth(params, environ, "host"):
        return True
    return not (_auth(params, environ, "api_key") or (_auth(params, environ, "username") and _auth(params, environ, "password"))
                or (_auth(params, environ, "client_cert", "CERT_FILE") and _auth(params, environ, "client_key", "KEY_FILE")))


def explain(params, environ, error, default_location=None, cwd=None):
    """What to fix when the client configuration could not be loaded (``error``: the library's message)."""
    if not uses_kubeconfig(params, environ):
        return ("could not create the Kubernetes client from host and its credentials (no kubeconfig is read then): %s; "
                "check host, api_key or username/password or client_cert/client_key, and ca_cert" % error)
    found = source(params, environ, default_location)
    if found.kind != INLINE and not any(os.path.exists(path) for path in found.paths):
        return _missing(found, params, environ, cwd)
    config = _load(found)
    problem = _context_problem(found, config, params, environ) if isinstance(config, dict) else None
    if problem:
        return problem
    return "could not load %s: %s; check the kubeconfig, context and host options" % (found.describe(), error)
