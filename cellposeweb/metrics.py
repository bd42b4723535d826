"""The numbers an operator watches, in Prometheus' text exposition format.

Gauges are read when scraped (the database and the broker hold the truth; no process keeps
counters that a restart would lose): jobs by status, messages waiting in each queue, running jobs
whose heartbeat is stale, and quantiles of the run and wait times of jobs finished in the last
``WINDOW``.
"""
import logging
from datetime import timedelta

from django.utils import timezone

from cellposeweb import health, work

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
QUANTILES = (0.5, 0.95, 0.99)


def quantile(values, q: float) -> float:
    """The ``q`` quantile of ``values`` (linear interpolation; NaN when empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    lo = int(position)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)


def _labels(**labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{str(value).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for key, value in labels.items())
    return "{" + inner + "}"


class _Text:
    def __init__(self):
        self.lines = []

    def metric(self, name, kind, help_text, samples):
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{_labels(**labels)} {float(value):.6g}")

    def summary(self, name, help_text, values):
        samples = [("", {"quantile": q}, quantile(values, q)) for q in QUANTILES]
        samples += [("_sum", {}, sum(values)), ("_count", {}, len(values))]
        self.metric(name, "summary", help_text, samples)


def render() -> str:
    from inference import selectors

    text = _Text()
    checks = health.run_checks()
    text.metric(
        "cellposeweb_up", "gauge", "1 when the service answers this web process.",
        [("", {"service": name}, int(check["ok"])) for name, check in checks.items()],
    )
    if checks.get("database", {}).get("ok"):
        counts = selectors.job_counts()
        text.metric("cellposeweb_jobs", "gauge", "Segmentation jobs by status.",
                    [("", {"status": status}, n) for status, n in counts.items()])
        text.metric("cellposeweb_jobs_stale", "gauge",
                    "Running jobs whose worker has not reported within JOB_HEARTBEAT_TIMEOUT_S.",
                    [("", {}, selectors.jobs_stale().count())])
        run_s, wait_s = selectors.job_durations(since=timezone.now() - WINDOW)
        text.summary("cellposeweb_job_run_seconds", "Run time of the jobs finished in the last hour.", run_s)
        text.summary("cellposeweb_job_wait_seconds", "Queued time of the jobs started in the last hour.", wait_s)
    try:
        lengths = work.queue_lengths()
    except Exception as exc:
        logger.warning("could not read the queue lengths: %s", exc)
        lengths = {}
    if lengths:
        text.metric("cellposeweb_queue_length", "gauge", "Messages waiting in each job queue.",
                    [("", {"queue": name}, n) for name, n in lengths.items()])
    return "\n".join(text.lines) + "\n"
