"""Image -> program. ``ghcr.io/stefanprodan/podinfo:<tag>`` is the upstream podinfo linked again
with the tag as its version (``pkg/version.VERSION``; 2 s warm, then cached per tag)."""

import os
import subprocess
import threading

from .procs import REPO_ROOT

PODINFO_REPO = "ghcr.io/stefanprodan/podinfo"
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "progressive-delivery", "podinfo-tags")
_lock = threading.Lock()


class ImageError(RuntimeError):
    pass


def split_image(image: str):
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


def podinfo_binary(tag: str, revision: str) -> str:
    """The podinfo binary reporting ``tag`` as its version (built on first use)."""
    safe = "".join(c for c in tag if c.isalnum() or c in ".-_") or "latest"
    out = os.path.join(CACHE, safe)
    binary = os.path.join(out, "podinfo")
    with _lock:
        if os.path.exists(binary):
            return binary
        source = os.path.join(REPO_ROOT, "tests", "lab", "upstream", "podinfo")
        tmp = out + ".tmp.%d" % os.getpid()
        os.makedirs(tmp, exist_ok=True)
        ldflags = "-s -w -X github.com/stefanprodan/podinfo/pkg/version.VERSION=%s -X github.com/stefanprodan/podinfo/pkg/version.REVISION=%s" % (safe, revision)
        env = dict(os.environ, CGO_ENABLED="0", GOWORK="off")
        result = subprocess.run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmp + "/", "github.com/stefanprodan/podinfo/cmd/podinfo"],
                                cwd=source, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise ImageError("linking podinfo %s failed: %s" % (tag, result.stderr[-1000:]))
        os.replace(tmp, out) if not os.path.exists(out) else os.replace(os.path.join(tmp, "podinfo"), binary)
        return binary


def resolve(image: str, versions: dict) -> str:
    name, tag = split_image(image)
    revision = ((versions or {}).get("podinfo") or {}).get("module", "").rsplit("-", 1)[-1]
    if name in (PODINFO_REPO, "stefanprodan/podinfo", "docker.io/stefanprodan/podinfo"):
        return podinfo_binary(tag, revision)
    raise ImageError("no program for image %s (the lab knows %s:<tag>)" % (image, PODINFO_REPO))
