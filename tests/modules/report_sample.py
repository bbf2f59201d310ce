"""A rollout's status with a history: two advances, a halt, then a rollback (shared by the report tests)."""

METRICS_OK = [
    {"name": "request-success-rate", "value": 99.5, "threshold_range": {"min": 99, "max": None}, "status": "pass",
     "message": "request success rate 99.50% >= 99%"},
    {"name": "request-duration", "value": 420.0, "threshold_range": {"min": None, "max": 500}, "status": "pass",
     "message": "request duration 420.00ms <= 500ms"},
]
METRICS_BAD = [
    {"name": "request-success-rate", "value": 90.0, "threshold_range": {"min": 99, "max": None}, "status": "fail",
     "message": "request success rate 90.00% < 99% <script>document.title='pwned'</script>"},
    {"name": "request-duration", "value": None, "threshold_range": {"min": None, "max": 500}, "status": "no_data",
     "message": "no values found"},
]


def status():
    return {
        "phase": "Failed",
        "canary_weight": 0,
        "failed_checks": 2,
        "iterations": 4,
        "reason": "failed checks threshold reached 2 (request success rate 90.00% < 99%)",
        "message": "Canary failed! Scaling down podinfo.test",
        "last_transition_time": "2026-01-02T03:04:00Z",
        "history": [
            {"at": "2026-01-02T03:00:00Z", "weight": 10, "phase": "Progressing", "action": "advance", "metrics": METRICS_OK,
             "event": "Advance podinfo.test canary weight 10"},
            {"at": "2026-01-02T03:01:00Z", "weight": 20, "phase": "Progressing", "action": "advance", "metrics": METRICS_OK,
             "event": "Advance podinfo.test canary weight 20"},
            {"at": "2026-01-02T03:02:00Z", "weight": 20, "phase": "Progressing", "action": "halt", "metrics": METRICS_BAD,
             "event": "Halt podinfo.test advancement request success rate 90.00% < 99%"},
            {"at": "2026-01-02T03:04:00Z", "weight": 0, "phase": "Failed", "action": "rollback", "metrics": METRICS_BAD,
             "event": "Rolling back podinfo.test failed checks threshold reached 2",
             "reason": "failed checks threshold reached 2 (request success rate 90.00% < 99%)"},
        ],
    }
