"""``python -m tests.lab status`` for a real-control-plane lab."""

import socket

import requests

NO_PROXY = {"http": None, "https": None}


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


def _nacks(admin: str) -> dict:
    try:
        text = requests.get(admin + "/stats", params={"filter": "update_rejected"}, timeout=2, proxies=NO_PROXY).text
    except requests.RequestException:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit() and int(value):
            out[name] = int(value)
    return out


def status(info: dict, alive, http_ok, listening) -> dict:
    pids = info.get("pids") or {}
    api_ok = False
    if info.get("api"):
        try:
            api_ok = requests.get(info["api"] + "/readyz", headers={"Authorization": "Bearer %s" % info.get("token")},
                                  verify=info.get("ca"), timeout=2, proxies=NO_PROXY).status_code == 200
        except requests.RequestException:
            api_ok = False
    checks = {"supervisor": alive(pids.get("supervisor")), "api": api_ok}
    for name, pid in (pids.get("control_plane") or {}).items():
        checks[name] = alive(pid)
    checks["prometheus"] = bool(info.get("prometheus")) and alive(pids.get("prometheus")) and http_ok(info["prometheus"] + "/-/ready")
    checks["istiod"] = bool(info.get("istiod")) and http_ok(info["istiod"] + "/ready")
    nacks = {}
    for name, key in (("envoy_mesh", "mesh_admin"), ("envoy_ingress", "ingress_admin")):
        admin = info.get(key)
        checks[name] = bool(admin) and http_ok(admin + "/ready")
        if admin:
            rejected = _nacks(admin)
            if rejected:
                nacks[name] = rejected
    checks["mesh"] = bool(info.get("mesh_address")) and all(_listening(info["mesh_address"], p) for p in info.get("mesh_ports") or [])
    checks["ingress"] = bool(info.get("ingress_port")) and listening(info["ingress_port"])
    checks["pods"] = {str(pid): alive(pid) for pid in pids.get("pods") or []}
    healthy = (info.get("state") == "running" and not nacks and all(v for k, v in checks.items() if k != "pods")
               and all(checks["pods"].values()))
    return {"dir": info.get("dir"), "control_plane": "real", "state": info.get("state"), "healthy": healthy, "checks": checks,
            "nacks": nacks, "errors": info.get("errors"), "api": info.get("api"), "mesh": info.get("mesh"),
            "ingress": info.get("ingress"), "istiod": info.get("istiod"), "prometheus": info.get("prometheus"), "versions": info.get("versions")}
