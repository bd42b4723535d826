"""Load: 50 concurrent clients browsing, uploading, segmenting and saving annotations against the
production stack for LOAD_SECONDS (default 120): no error but intended 429s, every job completes.
The report (p50/p95 per action) is written to LOAD_REPORT (default: the run's log folder) and
summarised in docs/performance.md."""
import json
import os
from pathlib import Path

from tests.integration import load
from tests.integration.live.conftest import HTTPS, tiff

CLIENTS = int(os.environ.get("LOAD_CLIENTS", 50))
SECONDS = float(os.environ.get("LOAD_SECONDS", 120))
USERS = 10


def test_fifty_clients_for_minutes_get_no_errors_and_every_job_completes(stack):
    tokens = [stack.user("load")[1] for _ in range(USERS)]
    images = [tiff(128, seed=s) for s in range(4)]

    summary, jobs, failures = load.run(base_url=stack.url, tokens=tokens, images=images, clients=CLIENTS,
                                       seconds=SECONDS, headers=HTTPS)

    finished = [stack.wait_job(job_id, timeout=900) for job_id in jobs]
    summary["jobs_succeeded"] = sum(job.status == "succeeded" for job in finished)
    run_s = sorted((job.finished_at - job.started_at).total_seconds() for job in finished)
    wait_s = sorted((job.started_at - job.created_at).total_seconds() for job in finished)
    from cellposeweb.metrics import quantile

    summary["job_run_s"] = {"p50": round(quantile(run_s, 0.5), 2), "p95": round(quantile(run_s, 0.95), 2)}
    summary["job_wait_s"] = {"p50": round(quantile(wait_s, 0.5), 2), "p95": round(quantile(wait_s, 0.95), 2)}
    report = Path(os.environ.get("LOAD_REPORT", stack.log_dir / "load-report.json"))
    report.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))

    assert failures == []
    assert summary["n_unexpected"] == 0, summary["unexpected"]
    assert jobs and summary["jobs_succeeded"] == len(jobs)
    assert summary["requests"] >= CLIENTS * 5  # every client really was busy
