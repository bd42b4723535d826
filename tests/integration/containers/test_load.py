"""The load test (tests/integration/load.py) against nginx in front of the web containers: clients
browsing, uploading, segmenting with the default model and saving annotations for LOAD_SECONDS; no
error but intended 429s, and every job completes. The report goes to the run's log folder."""
import json
import os

from tests.integration import load
from tests.integration.containers.stack import HTTPS, JOB_END
from tests.integration.containers.test_stack import tiff
from tests.integration.servers import wait_until

CLIENTS = int(os.environ.get("CONTAINER_LOAD_CLIENTS", 20))
SECONDS = float(os.environ.get("CONTAINER_LOAD_SECONDS", 60))
USERS = 5


def test_clients_through_nginx_get_no_errors_and_every_job_completes(container_stack):
    stack = container_stack
    tokens = stack.tokens(USERS, "load")
    images = [tiff(128, y=40 * s) for s in range(4)]

    summary, jobs, failures = load.run(base_url=stack.url, tokens=tokens, images=images, clients=CLIENTS,
                                       seconds=SECONDS, headers=HTTPS)

    for job_id in jobs:
        wait_until(lambda: stack.job_row(job_id)["status"] in JOB_END, timeout=900, interval=0.5, what=f"job {job_id}")
    finished = [stack.job_row(job_id) for job_id in jobs]
    summary["jobs_succeeded"] = sum(job["status"] == "succeeded" for job in finished)
    (stack.log_dir / "load-report.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))

    assert failures == []
    assert summary["n_unexpected"] == 0, summary["unexpected"]
    assert jobs and summary["jobs_succeeded"] == len(jobs)
    assert summary["requests"] >= CLIENTS * 5
