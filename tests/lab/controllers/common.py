"""Helpers shared by the controllers."""

import datetime
import hashlib
import json
import math
import random
from typing import List, Optional

from ..apiserver.store import now

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery rand.SafeEncodeString: no vowels, no look-alikes
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def parse_time(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def timestamp() -> str:
    return now()


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(SAFE_ALPHABET) for _ in range(length))


def template_hash(template: dict, collision_count: int = 0) -> str:
    """A stable, label-safe hash of a pod template (like the real controller's FNV hash, not equal to it)."""
    digest = hashlib.sha256((json.dumps(template, sort_keys=True) + str(collision_count or "")).encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[index])
    return "".join(chars)


def owner_reference(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: dict, owner: dict) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller") for ref in obj["metadata"].get("ownerReferences") or [])


def controller_of(obj: dict) -> Optional[dict]:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def int_or_percent(value, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100.0
        return int(math.ceil(scaled)) if round_up else int(math.floor(scaled))
    return int(value or 0)


def condition(conditions: List[dict], kind: str) -> Optional[dict]:
    return next((c for c in conditions or [] if c.get("type") == kind), None)


def set_condition(conditions: List[dict], kind: str, status: str, reason: str, message: str, with_update_time: bool = False,
                  touch: bool = False) -> List[dict]:
    """Replace condition `kind`, keeping lastTransitionTime while status stays the same (like the real controllers)."""
    old = condition(conditions, kind)
    stamp = timestamp()
    new = {"type": kind, "status": status}
    if with_update_time:
        new["lastUpdateTime"] = stamp
    new["lastTransitionTime"] = stamp
    new["reason"] = reason
    new["message"] = message
    if old is not None:
        if old.get("status") == status:
            new["lastTransitionTime"] = old.get("lastTransitionTime", stamp)
            if with_update_time and old.get("reason") == reason and old.get("message") == message and not touch:
                new["lastUpdateTime"] = old.get("lastUpdateTime", stamp)
    result = [c for c in conditions or [] if c.get("type") != kind]
    if old is not None:
        result.insert([c.get("type") for c in conditions].index(kind), new)
    else:
        result.append(new)
    return result


def pod_ready(pod: dict) -> bool:
    cond = condition((pod.get("status") or {}).get("conditions"), "Ready")
    return bool(cond and cond.get("status") == "True") and not pod["metadata"].get("deletionTimestamp")


def pod_available_at(pod: dict, min_ready_seconds: int) -> Optional[float]:
    """When a ready pod counts as available (ready for minReadySeconds); None if not ready."""
    if not pod_ready(pod):
        return None
    since = parse_time(condition(pod["status"]["conditions"], "Ready").get("lastTransitionTime")) or 0.0
    return since + (min_ready_seconds or 0)


def omit_zero(status: dict, fields) -> dict:
    """The apps/v1 status counters are `omitempty`: a real server leaves zeros out."""
    for field in fields:
        if not status.get(field):
            status.pop(field, None)
    return status
