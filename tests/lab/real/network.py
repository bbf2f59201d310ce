"""The lab's pod network: a bridge with a lab-unique private /24 (10.213.N.0/24) in the root
namespace and one network namespace + veth pair per pod. Names carry the lab's number N
(bridge ``pdl<N>br``, netns ``pdl<N>-<i>``, host veth ``pdl<N>v<i>``) so ``cleanup`` removes
exactly what this lab made, also after a crash."""

import fcntl
import os
import re
import subprocess
import threading
from typing import Dict, Optional

LOCK = "/run/lock/progressive-delivery-lab-net.lock"
BASE = "10.213"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), result.stderr.strip()))
    return result


class Network:
    def __init__(self, number: int):
        self.number = number
        self.bridge = "pdl%dbr" % number
        self.subnet = "%s.%d.0/24" % (BASE, number)
        self.gateway = "%s.%d.1" % (BASE, number)
        self._lock = threading.Lock()
        self._used: Dict[int, str] = {}  # host index -> pod key
        self._last = 1  # addresses are handed out round the /24, so a pod's address is not reused at once

    @classmethod
    def create(cls, on_number=None) -> "Network":
        """Pick an N no address on this machine uses yet (under a lock: labs start side by side)."""
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = set(int(n) for n in re.findall(r"inet %s\.(\d+)\." % re.escape(BASE), ip("-4", "-o", "addr").stdout))
            used |= set(int(n) for n in re.findall(r"\bpdl(\d+)br\b", ip("-o", "link").stdout))
            number = next(n for n in range(1, 255) if n not in used)
            network = cls(number)
            if on_number is not None:
                on_number(network)  # recorded in lab.json before anything exists, so down can clean up
            ip("link", "add", network.bridge, "type", "bridge")
            ip("addr", "add", "%s/24" % network.gateway, "dev", network.bridge)
            ip("link", "set", network.bridge, "up")
        return network

    def info(self) -> dict:
        return {"number": self.number, "bridge": self.bridge, "subnet": self.subnet, "gateway": self.gateway,
                "netns_prefix": "pdl%d-" % self.number}

    def add_pod(self, key: str) -> dict:
        with self._lock:
            # The address after the last one handed out: a pod that just went keeps its address free for a
            # while, as in a cluster's pod CIDR (an address reused at once is unreachable until the host's
            # neighbour entry for the old pod's MAC address expires).
            order = [2 + (self._last - 1 + offset) % 253 for offset in range(253)]
            index = next(i for i in order if i not in self._used)
            self._used[index] = key
            self._last = index
        netns, veth, address = "pdl%d-%d" % (self.number, index), "pdl%dv%d" % (self.number, index), "%s.%d.%d" % (BASE, self.number, index)
        try:
            ip("netns", "add", netns)
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            ip("link", "set", veth, "master", self.bridge, "up")
            ip("-n", netns, "addr", "add", "%s/24" % address, "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
            ip("-n", netns, "link", "set", "lo", "up")
            ip("-n", netns, "route", "add", "default", "via", self.gateway)
            ip("neigh", "flush", "to", address, "dev", self.bridge, check=False)  # a stale entry of an earlier pod
        except Exception:
            self.remove_pod({"index": index, "netns": netns, "veth": veth})
            raise
        return {"index": index, "netns": netns, "veth": veth, "ip": address}

    def remove_pod(self, pod: dict) -> None:
        ip("link", "del", pod["veth"], check=False)
        ip("netns", "del", pod["netns"], check=False)
        with self._lock:
            self._used.pop(pod["index"], None)


def cleanup(info: Optional[dict]) -> list:
    """Remove every netns and link of the lab described by lab.json's ``network``; return leftovers."""
    if not info or info.get("number") is None:
        return []
    number = int(info["number"])
    netns_re = re.compile(r"^pdl%d-\d+$" % number)
    link_re = re.compile(r"^pdl%d(v\d+|br)$" % number)
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if netns_re.match(name):
            _kill_netns_processes(name)
            ip("netns", "del", name, check=False)
    for name in _links():
        if link_re.match(name):
            ip("link", "del", name, check=False)
    left = [n for n in _netns() if netns_re.match(n)] + [n for n in _links() if link_re.match(n)]
    return left


def _kill_netns_processes(name: str) -> None:
    pids = ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass


def _netns() -> list:
    return [line.split()[0] for line in ip("netns", "list", check=False).stdout.splitlines() if line.split()]


def _links() -> list:
    return [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link", check=False).stdout.splitlines() if ":" in line]


def leftovers(info: Optional[dict]) -> list:
    if not info or info.get("number") is None:
        return []
    number = int(info["number"])
    return ([n for n in _netns() if re.match(r"^pdl%d-\d+$" % number, n)]
            + [n for n in _links() if re.match(r"^pdl%d(v\d+|br)$" % number, n)])
