#!/usr/bin/env python3
"""Measure the rollout role on the local lab and write the numbers to docs/benchmarks.md.

Three measurements (issue 5):
  (a) orchestration overhead per analysis step = time between two weight changes - interval;
  (b) fault-to-safety latency: from the moment a faulty canary first gets traffic (its weight
      leaves 0) to the moment the VirtualService routes 100% to the primary again, at interval 10 s
      and threshold 2 (goal: <= interval x threshold + 5 s);
  (c) a whole rollout's wall time against Flagger's formula interval x (max_weight / step_weight);
  (e) fast abort (issue 14): the same revision whose answers fail (the load on podinfo's /status/500, so its probes
      stay healthy) rolled out with fast abort and without, side by side, against Flagger's interval x threshold;
      then a healthy revision over --healthy-intervals intervals with fast abort on, counting false aborts (goal 0).

Weight changes are observed from outside: a thread polls the VirtualService every 50 ms through the
API server, so the numbers include everything the role does. Nothing is estimated: every number in
the report was measured by this run.

    scripts/benchmark.py [--interval 10] [--step-weight 10] [--max-weight 50] [--threshold 2] [--write docs/benchmarks.md]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import yaml  # noqa: E402  (after the path setup, like the lab)
from kubernetes import client, config  # noqa: E402

IMAGE = "ghcr.io/stefanprodan/podinfo:"
NAMESPACE = "test"
TARGET = "podinfo"


class WeightWatcher(threading.Thread):
    """Records (time, canary weight) each time the VirtualService's split changes."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api = api
        self.changes = []
        self._halt = threading.Event()

    def run(self):
        last = None
        while not self._halt.is_set():
            try:
                vs = self.api.get_namespaced_custom_object("networking.istio.io", "v1beta1", NAMESPACE, "virtualservices", TARGET)
                routes = vs["spec"]["http"][-1]["route"]
                weight = next((r.get("weight", 0) for r in routes if r["destination"]["host"].endswith("-canary")), 0)
            except Exception:  # noqa: BLE001 - the VirtualService may not exist yet
                weight = None
            if weight is not None and weight != last:
                self.changes.append((time.monotonic(), weight))
                last = weight
            time.sleep(0.05)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


def run_playbook(lab, extra, log_path):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
    started = time.monotonic()
    with open(log_path, "w") as log:
        rc = subprocess.call([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "progressive.delivery.rollout",
                              "-e", "@" + handle.name], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    os.unlink(handle.name)
    return rc, time.monotonic() - started


def role_vars(lab, args, **analysis):
    settings = {"interval": "%ds" % args.interval, "threshold": args.threshold, "max_weight": args.max_weight,
                "step_weight": args.step_weight}
    settings.update(analysis)
    return {
        "rollout_target": TARGET,
        "rollout_namespace": NAMESPACE,
        "rollout_kubeconfig": lab["kubeconfig"],
        "rollout_autoscaler": TARGET,
        "rollout_progress_deadline_seconds": 120,
        "rollout_service": {"port": 9898, "target_port": 9898},
        "rollout_analysis": settings,
        "rollout_prometheus": {"url": lab["prometheus"]},
        "rollout_load": {"url": lab["mesh"] + "/", "host": "podinfo-canary.test", "qps": 10, "concurrency": 2},
    }


def release(apps, version, faulty=False):
    deployment = apps.read_namespaced_deployment(TARGET, NAMESPACE)
    container = deployment.spec.template.spec.containers[0]
    container.image = IMAGE + version
    command = [c for c in (container.command or []) if not c.startswith("--random-error")]
    container.command = command + ["--random-error=%s" % ("true" if faulty else "false")]
    apps.replace_namespaced_deployment(TARGET, NAMESPACE, deployment)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--step-weight", type=int, default=10)
    parser.add_argument("--max-weight", type=int, default=50)
    parser.add_argument("--threshold", type=int, default=2)
    parser.add_argument("--dir", default=None, help="lab directory (default: a temporary one)")
    parser.add_argument("--write", default=None, help="write the report to this Markdown file")
    parser.add_argument("--healthy-intervals", type=int, default=30, help="intervals of the healthy run with fast abort (e)")
    parser.add_argument("--fast-abort-only", action="store_true", help="measure (e) alone and append its section to --write")
    parser.add_argument("--judge", action="store_true", help="measure the canary-versus-primary judge instead (judge_benchmark)")
    parser.add_argument("--judge-seconds", type=int, default=200, help="seconds of traffic sampled per condition (--judge)")
    parser.add_argument("--concurrency", default=None, metavar="N,N,...",
                        help="instead: N canaries in parallel from one ansible-playbook for each N (e.g. 1,10,25,50); "
                             "appends its section to --write")
    parser.add_argument("--modules-as-processes", action="store_true",
                        help="with --concurrency: run every module task as its own process (progressive_delivery_in_process=false)")
    parser.add_argument("--concurrency-steps", default="50", metavar="W,W,...",
                        help="with --concurrency: the canaries' step weights (default one step of 50 %%; Flagger's tutorial "
                             "is 10,20,30,40,50)")
    args = parser.parse_args()
    if args.judge:
        return judge_benchmark(args)
    if args.concurrency:
        concurrency_benchmark([int(n) for n in args.concurrency.split(",")], args.interval,
                              args.dir or tempfile.mkdtemp(prefix="pd-bench-"), args.write, not args.modules_as_processes,
                              [int(weight) for weight in args.concurrency_steps.split(",")])
        return

    lab_dir = args.dir or tempfile.mkdtemp(prefix="pd-bench-")
    logs = os.path.join(lab_dir, "benchmark-logs")
    subprocess.check_call([sys.executable, "-m", "tests.lab", "up", "--dir", lab_dir], cwd=REPO)
    try:
        os.makedirs(logs, exist_ok=True)
        with open(os.path.join(lab_dir, "lab.json")) as handle:
            lab = json.load(handle)
        config.load_kube_config(lab["kubeconfig"])
        apps, core, custom = client.AppsV1Api(), client.CoreV1Api(), client.CustomObjectsApi()
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        manifests = os.path.join(REPO, "tests", "lab", "manifests", "podinfo")
        with open(os.path.join(manifests, "deployment.yaml")) as handle:
            apps.create_namespaced_deployment(NAMESPACE, yaml.safe_load(handle))
        with open(os.path.join(manifests, "hpa.yaml")) as handle:
            client.AutoscalingV2Api().create_namespaced_horizontal_pod_autoscaler(NAMESPACE, yaml.safe_load(handle))

        print("benchmark: initializing the canary (podinfo 6.0.0)", flush=True)
        rc, init_seconds = run_playbook(lab, role_vars(lab, args), os.path.join(logs, "init.log"))
        if rc:
            raise SystemExit("initialization failed, see %s" % os.path.join(logs, "init.log"))

        if args.fast_abort_only:
            report = fast_abort_render(args, fast_abort_measurements(lab, args, apps, custom, logs))
            print(report)
            if args.write:
                with open(args.write, "a") as handle:
                    handle.write("\n" + report)
            return

        # (a) + (c): a successful rollout of 6.0.1
        print("benchmark: rolling out podinfo 6.0.1", flush=True)
        release(apps, "6.0.1")
        watcher = WeightWatcher(custom)
        watcher.start()
        rc, rollout_seconds = run_playbook(lab, role_vars(lab, args), os.path.join(logs, "rollout-6.0.1.log"))
        watcher.stop()
        if rc:
            raise SystemExit("the 6.0.1 rollout failed, see %s" % os.path.join(logs, "rollout-6.0.1.log"))
        changes = watcher.changes
        advances = [(t, w) for t, w in changes if w > 0]
        steps = [b[0] - a[0] for a, b in zip(advances, advances[1:])]
        overheads = [s - args.interval for s in steps]
        promoted_at = next(t for t, w in changes if w == 0 and t > advances[0][0])
        analysis_seconds = promoted_at - advances[0][0]
        formula = args.interval * (args.max_weight / float(args.step_weight))

        # (b): a faulty 6.0.2 (--random-error) must be rolled back
        print("benchmark: rolling out the faulty podinfo 6.0.2", flush=True)
        release(apps, "6.0.2", faulty=True)
        watcher = WeightWatcher(custom)
        watcher.start()
        rc, faulty_seconds = run_playbook(lab, role_vars(lab, args), os.path.join(logs, "rollout-6.0.2.log"))
        watcher.stop()
        if rc == 0:
            raise SystemExit("the faulty 6.0.2 was promoted, see %s" % os.path.join(logs, "rollout-6.0.2.log"))
        first_traffic = next(t for t, w in watcher.changes if w > 0)
        safe = next(t for t, w in watcher.changes if w == 0 and t > first_traffic)
        fault_to_safety = safe - first_traffic
        budget = args.interval * args.threshold + 5

        fast_abort = fast_abort_measurements(lab, args, apps, custom, logs)

        with open(os.path.join(logs, "measurements.json"), "w") as handle:
            json.dump({"init_seconds": init_seconds, "rollout_seconds": rollout_seconds, "steps": steps,
                       "weight_changes": changes, "fault_to_safety": fault_to_safety, "faulty_seconds": faulty_seconds,
                       "analysis_seconds": analysis_seconds, "fast_abort": fast_abort}, handle, indent=2)
        report = render(args, init_seconds, rollout_seconds, steps, overheads, analysis_seconds, formula,
                        fault_to_safety, budget, faulty_seconds) + fast_abort_render(args, fast_abort)
        print(report)
        if args.write:
            with open(args.write, "w") as handle:
                handle.write(report)
    finally:
        subprocess.call([sys.executable, "-m", "tests.lab", "down", "--dir", lab_dir], cwd=REPO)



# -- (e) fast abort against none, and false aborts of a healthy canary (issue 14) ----------------------------------------


def new_revision(apps, version, run):
    """The target at ``version`` with a pod template that differs by one environment variable: the same program as a new
    revision (a revision once rolled back is not analysed again)."""
    deployment = apps.read_namespaced_deployment(TARGET, NAMESPACE)
    container = deployment.spec.template.spec.containers[0]
    container.image = IMAGE + version
    container.command = [c for c in (container.command or []) if not c.startswith("--random-error")]
    container.env = [e for e in (container.env or []) if e.name != "BENCHMARK_RUN"] + [client.V1EnvVar(name="BENCHMARK_RUN", value=run)]
    apps.replace_namespaced_deployment(TARGET, NAMESPACE, deployment)


class FirstFailureWatcher(threading.Thread):
    """The moment the canary's 5xx counter first rises in Prometheus (polled every 0.2 s): the first failed answer as the
    metrics can know it, up to one scrape after the request."""

    QUERY = ('sum(istio_requests_total{reporter="destination",destination_workload_namespace="%s",'
             'destination_workload="%s",response_code=~"5.."})' % (NAMESPACE, TARGET))

    def __init__(self, prometheus):
        super().__init__(daemon=True)
        self.url = prometheus.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": self.QUERY})
        self.first = None
        self._halt = threading.Event()

    def _count(self):
        try:
            with urllib.request.urlopen(self.url, timeout=2) as answer:
                result = json.load(answer)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return None
        return float(result[0]["value"][1]) if result else 0.0

    def run(self):
        baseline = None
        while not self._halt.is_set() and self.first is None:
            count = self._count()
            if count is not None:
                if baseline is None:
                    baseline = count
                elif count > baseline:
                    self.first = time.monotonic()
            time.sleep(0.2)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


def watched_run(lab, custom, extra, log_path):
    watcher, failures = WeightWatcher(custom), FirstFailureWatcher(lab["prometheus"])
    watcher.start()
    failures.start()
    rc, seconds = run_playbook(lab, extra, log_path)
    watcher.stop()
    failures.stop()
    with open(log_path) as handle:
        output = handle.read()
    return rc, seconds, watcher.changes, output, failures.first


def canary_reason(core):
    status = core.read_namespaced_config_map(TARGET + "-canary-status", NAMESPACE).data["status.json"]
    return json.loads(status).get("reason") or ""


def fast_abort_measurements(lab, args, apps, custom, logs):
    """(e): 6.0.3 whose every answer is a 500 (the load on /status/500), with fast abort and without, then a healthy
    6.0.3 over args.healthy_intervals intervals with fast abort on."""
    core = client.CoreV1Api()
    success_rate = [{"name": "request-success-rate", "threshold_range": {"min": 99}, "interval": "%ds" % args.interval}]
    failing = dict(role_vars(lab, args)["rollout_load"], url=lab["mesh"] + "/status/500")
    results = {}
    for name, enabled in (("with", True), ("without", False)):
        print("benchmark: failing answers, %s fast abort" % name, flush=True)
        new_revision(apps, "6.0.3", "failing-%s" % name)
        extra = dict(role_vars(lab, args, metrics=success_rate, fast_abort={"enabled": enabled}), rollout_load=failing)
        rc, seconds, changes, output, first_failure = watched_run(lab, custom, extra, os.path.join(logs, "failing-%s-fast-abort.log" % name))
        if rc == 0:
            raise SystemExit("a canary whose answers all fail was promoted (%s fast abort), see %s" % (name, logs))
        first = next(t for t, w in changes if w > 0)
        back = next(t for t, w in changes if w == 0 and t > first)
        results[name] = {"fault_to_safety": back - first, "run_seconds": seconds, "reason": canary_reason(core),
                         "first_failure_to_safety": back - first_failure if first_failure else None,
                         "traffic_to_first_failure": first_failure - first if first_failure else None}
        print("benchmark: %s fast abort: %.2f s to 100/0, %s s after the first failure in Prometheus (%s)"
              % (name, back - first, results[name]["first_failure_to_safety"], results[name]["reason"]), flush=True)

    print("benchmark: a healthy canary over %d intervals with fast abort" % args.healthy_intervals, flush=True)
    new_revision(apps, "6.0.3", "healthy")
    weights = [max(1, round(90.0 * (i + 1) / args.healthy_intervals)) for i in range(args.healthy_intervals)]
    weights = sorted(set(weights))
    extra = role_vars(lab, args)
    extra["rollout_analysis"] = {"interval": "%ds" % args.interval, "threshold": args.threshold, "step_weights": weights,
                                 "metrics": success_rate, "fast_abort": {"enabled": True}}
    rc, seconds, changes, output, _first_failure = watched_run(lab, custom, extra, os.path.join(logs, "healthy-fast-abort.log"))
    reason = canary_reason(core)
    advances = [t for t, w in changes if w > 0]
    results["healthy"] = {"rc": rc, "run_seconds": seconds, "intervals": len(weights), "weights_routed": len(advances),
                          "false_aborts": output.count("fast abort: "), "reason": reason,
                          "analysis_seconds": (next(t for t, w in changes if w == 0 and t > advances[0]) - advances[0]) if advances else None}
    print("benchmark: healthy: rc %d, %d weights routed, %d fast aborts, reason %r"
          % (rc, len(advances), results["healthy"]["false_aborts"], reason), flush=True)
    return results


def fast_abort_render(args, results):
    flagger = args.interval * args.threshold
    with_, without, healthy = results["with"], results["without"], results["healthy"]
    lines = [
        "## (e) Fast abort against none, and a healthy canary with fast abort",
        "",
        "The same program (podinfo 6.0.3) as two new revisions, its every answer a 500 (the load of 10 qps x 2 on",
        "podinfo's `/status/500`, so the pod's probes stay healthy and only the answers fail), rolled out with",
        "`rollout_analysis.fast_abort.enabled` true, then false; request-success-rate >= 99 over a %d s window." % args.interval,
        "From the canary's first traffic to 100/0 again (the VirtualService polled every 50 ms).",
        "Flagger's time before a rollback starts is interval x threshold = %d s." % flagger,
        "",
        "The first failure is the moment the canary's 5xx counter first rose in Prometheus (polled every 0.2 s), so",
        "the time from it to 100/0 is the detection plus the rollback (goal: detection + 2 s, about 10 s at a 1 s scrape).",
        "",
        "| fast abort | first traffic to 100/0 | vs interval x threshold | first failure in Prometheus to 100/0 | first traffic to first failure | whole run (ansible-playbook) | reason recorded |",
        "|---|---|---|---|---|---|---|",
    ]
    seconds = lambda value: "-" if value is None else "%.2f s" % value  # noqa: E731
    for title, row in (("on", with_), ("off", without)):
        lines.append("| %s | %.2f s | %.2fx | %s | %s | %.1f s | %s |" % (
            title, row["fault_to_safety"], row["fault_to_safety"] / flagger, seconds(row.get("first_failure_to_safety")),
            seconds(row.get("traffic_to_first_failure")), row["run_seconds"], row["reason"].replace("|", "/")))
    lines += [
        "",
        "A healthy 6.0.3 (the load on `/`) over %d intervals of %d s with fast abort on: return code %d, %d weights"
        % (healthy["intervals"], args.interval, healthy["rc"], healthy["weights_routed"]),
        "routed, %d fast aborts (goal 0), reason recorded %r; its analysis took %s." % (
            healthy["false_aborts"], healthy["reason"],
            "%.1f s" % healthy["analysis_seconds"] if healthy["analysis_seconds"] is not None else "-"),
        "",
    ]
    return "\n".join(lines)


# -- many canaries from one runner (issue 15; docs/benchmarks.md, "Many canaries in parallel") -----------------------------


class TreeSampler(threading.Thread):
    """Peaks of the summed RSS and PSS of a process and all its descendants, sampled from /proc every 0.2 s.

    RSS counts a page shared by forks (the playbook's workers) once in every process; PSS divides it among them,
    so the summed PSS is the memory the tree really holds.
    """

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self.own_cpu = 0.0
        self._halt = threading.Event()
        self._ticks = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _parents():
        parents = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended meanwhile
        return parents

    @staticmethod
    def _memory(pid):
        """(RSS, PSS) in bytes, or None for a process that ended meanwhile."""
        try:
            with open("/proc/%d/smaps_rollup" % pid) as handle:
                # "Rss:   1234 kB" lines after the mapping's header line, whose first field holds spaces
                fields = dict(line.split(":", 1) for line in handle if " " not in line.split(":", 1)[0])
            return int(fields["Rss"].split()[0]) * 1024, int(fields["Pss"].split()[0]) * 1024
        except (OSError, KeyError, ValueError, IndexError):
            return None

    def _own_cpu(self):
        """The CPU seconds of the root process itself (user + system), without its children."""
        try:
            with open("/proc/%d/stat" % self.pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / float(self._ticks)
        except (OSError, IndexError, ValueError):
            return None  # it ended: the last sample stands

    def run(self):
        while not self._halt.is_set():
            own = self._own_cpu()
            if own is not None:
                self.own_cpu = own
            parents = self._parents()
            tree, frontier = {self.pid}, [self.pid]
            while frontier:
                parent = frontier.pop()
                children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
                tree.update(children)
                frontier.extend(children)
            memory = [m for m in (self._memory(pid) for pid in tree) if m]
            rss, pss = sum(m[0] for m in memory), sum(m[1] for m in memory)
            if rss > self.peak:
                self.peak, self.peak_processes = rss, len(tree)
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(0.2)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


def recap_tasks(log_path, host):
    """(ok, skipped) of one host in a playbook log's PLAY RECAP: the tasks its canary ran and skipped."""
    with open(log_path) as handle:
        recap = handle.read().rsplit("PLAY RECAP", 1)[-1]
    for line in recap.splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == host:
            numbers = dict(item.split("=") for item in counters.split())
            return int(numbers["ok"]), int(numbers["skipped"])
    return None


def concurrency_run(lab, count, playbook_vars, work_dir, name):
    """One ansible-playbook driving ``count`` canaries (hosts c0.., ansible_connection=local, forks=count), measured:
    return code, wall seconds, peak RSS and PSS bytes of its process tree, CPU seconds of the tree and of the
    ansible-playbook process alone, peak processes, and the first canary's tasks (ok, skipped)."""
    import resource

    hosts = dict(("c%d" % index, dict(playbook_vars, rollout_namespace="bench-%d" % index, ansible_connection="local"))
                 for index in range(count))
    inventory = os.path.join(work_dir, "inventory-%d.yml" % count)
    with open(inventory, "w") as handle:
        yaml.safe_dump({"all": {"hosts": hosts}}, handle)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORKS": str(count),
        "ANSIBLE_LOCAL_TEMP": os.path.join(work_dir, "ansible-tmp"),
    })
    log_path = os.path.join(work_dir, "%s-%d.log" % (name, count))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "progressive.delivery.rollout",
                                    "-i", inventory, "-e", "rollout_hosts=all"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        rc = process.wait()
        sampler.stop()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"rc": rc, "wall_seconds": wall, "peak_rss_bytes": sampler.peak, "peak_pss_bytes": sampler.peak_pss,
            "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "playbook_process_cpu_seconds": sampler.own_cpu, "peak_processes": sampler.peak_processes,
            "tasks_of_one_canary": recap_tasks(log_path, "c0"), "log": log_path}


def concurrency_benchmark(counts, interval, lab_dir, write=None, modules_in_worker=True, step_weights=(50,)):
    """N canaries in N namespaces from one ansible-playbook, for each N of ``counts``: the rollout of podinfo 6.0.1
    (after an initializing run) measured for wall time, peak RSS and PSS of the process tree and CPU seconds."""
    logs = os.path.join(lab_dir, "benchmark-logs")
    os.makedirs(logs, exist_ok=True)
    subprocess.check_call([sys.executable, "-m", "tests.lab", "up", "--dir", lab_dir], cwd=REPO)
    rows = []
    try:
        with open(os.path.join(lab_dir, "lab.json")) as handle:
            lab = json.load(handle)
        config.load_kube_config(lab["kubeconfig"])
        apps, core = client.AppsV1Api(), client.CoreV1Api()
        from tests.mesh import podinfo_deployment

        playbook_vars = {
            "rollout_target": TARGET, "rollout_kubeconfig": lab["kubeconfig"], "rollout_prometheus": {"url": lab["prometheus"]},
            "rollout_progress_deadline_seconds": 300, "rollout_scale_down_delay": 0, "rollout_report": False,
            "progressive_delivery_in_process": modules_in_worker,
            "rollout_analysis": {"interval": "%ds" % interval, "threshold": 2, "step_weights": list(step_weights),
                                 "metrics": [{"name": "error-free", "query": "vector(100)", "threshold_range": {"min": 99}}]},
        }
        made = 0
        for count in counts:
            for index in range(made, count):
                core.create_namespace({"metadata": {"name": "bench-%d" % index}})
                # no CPU request: the lab's one Node advertises 8 CPUs, and at the tutorial's 100m a canary's two pods
                # fill it at 40 canaries (a first 50-canary run left the canaries Pending past their progress deadline)
                apps.create_namespaced_deployment("bench-%d" % index, podinfo_deployment("bench-%d" % index, "6.0.0", replicas=1,
                                                                                          resources={}))
            made = max(made, count)
            print("benchmark: %d canaries - initializing" % count, flush=True)
            if concurrency_run(lab, count, playbook_vars, logs, "init")["rc"]:
                raise SystemExit("initializing %d canaries failed, see %s/init-%d.log" % (count, logs, count))
            for index in range(count):
                release_in(apps, "bench-%d" % index, "6.0.1" if "6.0.1" not in image_in(apps, "bench-%d" % index) else "6.0.3")
            print("benchmark: %d canaries - rolling out" % count, flush=True)
            row = concurrency_run(lab, count, playbook_vars, logs, "rollout")
            if row["rc"]:
                raise SystemExit("rolling out %d canaries failed, see %s" % (count, row["log"]))
            row.update({"canaries": count, "modules_in_worker": modules_in_worker, "interval_seconds": interval,
                        "step_weights": list(step_weights)})
            rows.append(row)
            print("benchmark: %d canaries: %.1f s wall, %.0f MiB peak RSS, %.0f MiB peak PSS (%d processes), %.1f CPU s "
                  "(%.1f in ansible-playbook itself), one canary's tasks %s"
                  % (count, row["wall_seconds"], row["peak_rss_bytes"] / 2.0 ** 20, row["peak_pss_bytes"] / 2.0 ** 20,
                     row["peak_processes"], row["cpu_seconds"], row["playbook_process_cpu_seconds"], row["tasks_of_one_canary"]),
                  flush=True)
            with open(os.path.join(logs, "concurrency-%s-%ds.json" % ("worker" if modules_in_worker else "process", interval)), "w") as handle:
                json.dump(rows, handle, indent=2)
    finally:
        subprocess.call([sys.executable, "-m", "tests.lab", "down", "--dir", lab_dir], cwd=REPO)
    report = render_concurrency(rows, interval, modules_in_worker, step_weights)
    print(report)
    if write:
        with open(write, "a") as handle:
            handle.write(report)
    return rows


def image_in(apps, namespace):
    return apps.read_namespaced_deployment(TARGET, namespace).spec.template.spec.containers[0].image


def release_in(apps, namespace, version):
    deployment = apps.read_namespaced_deployment(TARGET, namespace)
    deployment.spec.template.spec.containers[0].image = IMAGE + version
    apps.replace_namespaced_deployment(TARGET, namespace, deployment)


def render_concurrency(rows, interval, modules_in_worker=True, step_weights=(50,)):
    alone = next((row["wall_seconds"] for row in rows if row["canaries"] == 1), None)
    schedule = ", ".join("%d %%" % weight for weight in step_weights)
    lines = ["", "## Many canaries in parallel from one runner (interval %d s, steps %s, modules %s)" % (
                 interval, schedule, "in the worker" if modules_in_worker else "as processes"), "",
             "Measured %s on %s (%d cores, Python %s), one lab; N canaries in N namespaces driven by ONE ansible-playbook "
             "(N inventory hosts, `ansible_connection=local`, forks N), each rolling out podinfo 6.0.1 (interval %d s, "
             "steps %s, a constant metric), progressive_delivery_in_process=%s. RSS and PSS: the playbook's whole "
             "process tree summed, sampled every 0.2 s (RSS counts the pages the forks share once per process, PSS divides "
             "them); CPU: the tree's user + system seconds (rusage of the waited children), and the part spent in the "
             "ansible-playbook process itself (the strategy, the callbacks), which one core must carry; tasks: what the "
             "recap counts for one canary (ok + skipped)." % (
                 datetime.date.today().isoformat(), platform.node() or "this machine", os.cpu_count(), platform.python_version(), interval,
                 schedule, str(modules_in_worker).lower()),
             "", "| canaries | wall time | vs one alone | peak RSS (tree) | peak PSS (tree) | processes at peak | CPU seconds "
                 "| of which ansible-playbook | tasks of one canary |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = "%.2fx" % (row["wall_seconds"] / alone) if alone else "-"
        tasks = row.get("tasks_of_one_canary")
        lines.append("| %d | %.1f s | %s | %.0f MiB | %.0f MiB | %d | %.1f | %s | %s |" % (
            row["canaries"], row["wall_seconds"], ratio, row["peak_rss_bytes"] / 2.0 ** 20, row["peak_pss_bytes"] / 2.0 ** 20,
            row["peak_processes"], row["cpu_seconds"],
            "%.1f" % row["playbook_process_cpu_seconds"] if row.get("playbook_process_cpu_seconds") is not None else "-",
            "%d + %d" % tuple(tasks) if tasks else "-"))
    return "\n".join(lines) + "\n"


def render(args, init_seconds, rollout_seconds, steps, overheads, analysis_seconds, formula, fault_to_safety, budget, faulty_seconds):
    cpu = "%d cores" % os.cpu_count()
    lines = [
        "# Benchmarks",
        "",
        "Measured by `scripts/benchmark.py` on the local lab (the real Kubernetes control plane, podinfo pods as",
        "processes, istiod programming the mesh Envoy, Prometheus; see docs/lab.md) on %s, %s, Python %s, %s." % (platform.machine(), cpu, platform.python_version(),
                                                                  datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        "Weight changes are observed from outside (the VirtualService polled every 50 ms through the API server).",
        "Settings: interval %d s, step_weight %d, max_weight %d, threshold %d, load 10 qps x 2 workers on the canary Service."
        % (args.interval, args.step_weight, args.max_weight, args.threshold),
        "",
        "## (a) Orchestration overhead per analysis step",
        "",
        "Time between two successive weight changes minus the interval (goal <= 1 s).",
        "",
        "| steps | mean | max | min |",
        "|---|---|---|---|",
        "| %d | %.2f s | %.2f s | %.2f s |" % (len(overheads), statistics.mean(overheads), max(overheads), min(overheads)),
        "",
        "Step wall times: %s s." % ", ".join("%.2f" % s for s in steps),
        "",
        "The role schedules like Flagger's ticker: the metric check and the route change run inside the interval",
        "(their duration is measured at each step and subtracted from the next wait), and the bookkeeping (status,",
        "events, lock renewal, starting the load) runs while the interval elapses.",
        "",
        "## (b) Fault-to-safety latency",
        "",
        "A faulty podinfo 6.0.2 (`--random-error`): from the moment its canary weight leaves 0 to the moment the",
        "VirtualService routes 100%% to the primary again (goal <= interval x threshold + 5 s = %d s)." % budget,
        "",
        "| measured | goal | whole faulty run (ansible-playbook) |",
        "|---|---|---|",
        "| %.2f s | %d s | %.1f s |" % (fault_to_safety, budget, faulty_seconds),
        "",
        "## (c) A whole rollout against Flagger's formula",
        "",
        "| Flagger's interval x (max_weight / step_weight) | analysis (first weight change to 100/0 after promotion) | whole run (ansible-playbook, incl. scale-up and primary rollout) |",
        "|---|---|---|",
        "| %.0f s | %.1f s | %.1f s |" % (formula, analysis_seconds, rollout_seconds),
        "",
        "The analysis time is the formula's intervals plus the promotion (the primary's rolling update with",
        "podinfo's probes and minReadySeconds, then the switch of all traffic).",
        "Initialization alone (the first run) took %.1f s." % init_seconds,
        "",
    ]
    return "\n".join(lines)


# -- (d) the canary-versus-primary judge (rollout_analysis.judge, issue 14) ----------------------------------------------
JUDGE_WINDOW, JUDGE_STEP, JUDGE_RATE = 10, "1s", "2s"     # the lookback of the e2e test: 10 s, 1 s steps, 2 s rates
JUDGE_DELAY_MS = (25, 35)                               # podinfo --random-delay: 25-34 ms more per request (mean +29.5 ms)
JUDGE_CONFIGS = (
    ("Kayenta's default effect size (any significant change fails)", None),
    ("request-duration allowed_increase 1.5 (the e2e test's)", {"allowed_increase": 1.5}),
)


def judge_benchmark(args):
    """Power against a known latency regression and the false-failure rate on identical versions, from real samples.

    The lab runs podinfo-primary (6.0.0) and the canary podinfo scaled to 1 replica directly (the rollout role initialised
    the objects; no rollout runs, so the canary keeps one version for the whole sampling): first an identical canary
    (6.0.1, same flags), then the same canary with podinfo's --random-delay of 25-34 ms. Both get about 20 requests a
    second through the mesh Envoy (podinfo-canary.test and podinfo-primary.test) for --judge-seconds; then the judge the
    role runs (sampling.build_comparison / run_comparison: two Prometheus range queries per metric per window, the
    Mann-Whitney U test, score, verdict) judges every non-overlapping 10 s window of that time, with each configuration."""
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
    from ansible_collections.progressive.delivery.plugins.module_utils.analysis import sampling
    from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient
    from tests.mesh import Lab, SteadyTraffic

    lab_dir = args.dir or tempfile.mkdtemp(prefix="pd-bench-judge-")
    logs = os.path.join(lab_dir, "benchmark-logs")
    subprocess.check_call([sys.executable, "-m", "tests.lab", "up", "--dir", lab_dir], cwd=REPO)
    try:
        os.makedirs(logs, exist_ok=True)
        with open(os.path.join(lab_dir, "lab.json")) as handle:
            lab = json.load(handle)
        config.load_kube_config(lab["kubeconfig"])
        apps, core = client.AppsV1Api(), client.CoreV1Api()
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        with open(os.path.join(REPO, "tests", "lab", "manifests", "podinfo", "deployment.yaml")) as handle:
            apps.create_namespaced_deployment(NAMESPACE, yaml.safe_load(handle))
        print("benchmark judge: initializing the canary (podinfo 6.0.0)", flush=True)
        rc, _seconds = run_playbook(lab, dict(role_vars(lab, args), rollout_autoscaler=""), os.path.join(logs, "judge-init.log"))
        if rc:
            raise SystemExit("initialization failed, see %s" % os.path.join(logs, "judge-init.log"))
        prometheus = PrometheusClient(lab["prometheus"])
        results = {}
        for condition, delay in (("identical", None), ("regressed", JUDGE_DELAY_MS)):
            deployment = apps.read_namespaced_deployment(TARGET, NAMESPACE)
            container = deployment.spec.template.spec.containers[0]
            container.image = IMAGE + "6.0.1"
            command = [c for c in container.command if not c.startswith("--random-delay")]
            if delay:
                command += ["--random-delay=true", "--random-delay-unit=ms", "--random-delay-min=%d" % delay[0],
                            "--random-delay-max=%d" % delay[1]]
            container.command = command
            deployment.spec.replicas = 1
            apps.replace_namespaced_deployment(TARGET, NAMESPACE, deployment)
            _wait_ready(apps, TARGET)
            print("benchmark judge: %s canary, %d s of traffic to both sides" % (condition, args.judge_seconds), flush=True)
            traffic = [SteadyTraffic(Lab(lab_dir), "%s.%s:9898" % (host, NAMESPACE), clients=1, pause=0.05,
                                     max_seconds=args.judge_seconds + 60) for host in ("podinfo-canary", "podinfo-primary")]
            for sender in traffic:
                sender.start()
            time.sleep(5)                               # a first rate window on both sides
            started = time.time()
            time.sleep(args.judge_seconds)
            for sender in traffic:
                sender.stop()
            time.sleep(2)                               # the last scrape
            ends = [started + JUDGE_WINDOW * (i + 1) for i in range(int(args.judge_seconds // JUDGE_WINDOW))]
            per_config = []
            for title, effect in JUDGE_CONFIGS:
                verdicts, durations, p_values = [], [], []
                for end in ends:
                    comparison = sampling.build_comparison({
                        "provider": "istio", "target": TARGET, "namespace": NAMESPACE, "window": "%ds" % JUDGE_WINDOW,
                        "step": JUDGE_STEP, "interval": JUDGE_RATE, "end": str(end), "confidence": 0.98, "min_samples": 5,
                        "thresholds": {}, "on_no_data": "fail",
                        "metrics": [{"name": "request-success-rate", "critical": True},
                                    {"name": "request-duration", "effect_size": effect}]})
                    report = sampling.run_comparison(prometheus, comparison)
                    verdicts.append(report["verdict"])
                    duration = report["metrics"][1]
                    durations.append(duration["classification"])
                    p_values.append(duration["p_value"])
                per_config.append({"title": title, "verdicts": verdicts, "duration": durations, "p_values": p_values})
            results[condition] = {"configs": per_config, "requests": [dict(t.statuses) for t in traffic], "windows": len(ends)}
        with open(os.path.join(logs, "judge-measurements.json"), "w") as handle:
            json.dump(results, handle, indent=2, default=str)
        report = judge_render(args, results)
        print(report)
        if args.write:
            with open(args.write, "a") as handle:
                handle.write(report)
    finally:
        subprocess.call([sys.executable, "-m", "tests.lab", "down", "--dir", lab_dir], cwd=REPO)


def _wait_ready(apps, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = apps.read_namespaced_deployment(name, NAMESPACE).status
        if (status.ready_replicas or 0) >= 1 and (status.updated_replicas or 0) >= 1 and not (status.replicas or 0) > (status.updated_replicas or 0):
            time.sleep(3)                               # the mesh Envoy learns the endpoint
            return
        time.sleep(0.5)
    raise SystemExit("%s did not get ready in %d s" % (name, timeout))


def judge_render(args, results):
    lines = [
        "",
        "## (d) The canary-versus-primary judge (rollout_analysis.judge)",
        "",
        "Measured by `scripts/benchmark.py --judge` on %s, %s cores, %s: real samples from the lab's Prometheus (1 s scrape)."
        % (platform.machine(), os.cpu_count(), datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        "podinfo-primary (6.0.0) and the canary (6.0.1, one replica, scaled directly so that it keeps one version) each got about",
        "20 requests a second through the mesh Envoy for %d s per condition; every non-overlapping %d s window was then judged"
        % (args.judge_seconds, JUDGE_WINDOW),
        "by the role's code (sampling.run_comparison: range queries step %s, rate windows %s; request-success-rate critical," % (JUDGE_STEP, JUDGE_RATE),
        "request-duration (P99); confidence 0.98; pass 95, marginal 75). The regressed canary runs podinfo's",
        "`--random-delay` of %d-%d ms per request (about +30 ms)." % JUDGE_DELAY_MS,
        "",
        "| configuration | false failures, identical versions (verdict not Pass) | power, +30 ms canary (verdict Fail) | request-duration High, +30 ms |",
        "|---|---|---|---|",
    ]
    for index, (title, _effect) in enumerate(JUDGE_CONFIGS):
        same = results["identical"]["configs"][index]
        slow = results["regressed"]["configs"][index]
        false = sum(1 for v in same["verdicts"] if v != "Pass")
        power = sum(1 for v in slow["verdicts"] if v == "Fail")
        high = sum(1 for c in slow["duration"] if c == "High")
        lines.append("| %s | %d of %d (%.0f%%) | %d of %d (%.0f%%) | %d of %d |" % (
            title, false, len(same["verdicts"]), 100.0 * false / max(len(same["verdicts"]), 1),
            power, len(slow["verdicts"]), 100.0 * power / max(len(slow["verdicts"]), 1), high, len(slow["duration"])))
    lines += ["", "Requests answered (status: count), canary then primary: identical %s; regressed %s." % (
        results["identical"]["requests"], results["regressed"]["requests"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
