"""The segmentation worker's container killed mid-job (SIGKILL to the container, as the OOM killer
or a lost host does) and started again: the same container comes back under the same worker name,
takes the job back at once and finishes it without redoing the images it had finished."""
import json

from tests.integration.containers.test_stack import tiff
from tests.integration.servers import wait_until

SLOW = {"augment": True, "diameter": 30, "tile_overlap": 0.5}


def test_a_killed_worker_container_resumes_its_job_when_it_is_started_again(container_stack):
    stack = container_stack
    (token,) = stack.tokens(1, "killed")
    client = stack.http(token)
    images = []
    for i in range(4):
        response = client.post("/api/images/", files={"file": (f"k{i}.tif", tiff(384, y=40 * i), "image/tiff")})
        assert response.status_code == 201, response.text
        images.append(response.json()["id"])
    job = client.post("/api/jobs/", json={"images": images, **SLOW})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]

    def mid_job():
        body = client.get(f"/api/jobs/{job_id}/").json()
        statuses = [item["status"] for item in body["images"]]
        return body["status"] == "running" and "succeeded" in statuses and "running" in statuses and body

    wait_until(mid_job, timeout=600, interval=0.1, what="the job to be mid-way")
    worker = stack.container("worker-segment")
    stack.engine("kill", worker)  # SIGKILL

    snapshot = client.get(f"/api/jobs/{job_id}/").json()
    assert snapshot["status"] == "running"
    running = [item for item in snapshot["images"] if item["status"] == "running"]
    assert len(running) == 1 and running[0]["n_masks"] is None  # nothing half-written is visible
    assert client.get(f"/api/images/{running[0]['id']}/annotation/").status_code == 404
    done_before = {item["id"] for item in snapshot["images"] if item["status"] == "succeeded"}

    stack.engine("start", worker)  # what `restart: unless-stopped` does
    done = stack.wait_job(client, job_id, timeout=900)

    assert done["status"] == "succeeded", done["error"]
    assert stack.job_row(job_id)["attempts"] == 2
    starts = [line for line in map(parse, stack.logs("worker-segment").splitlines())
              if line.get("job_id") == job_id and line.get("message", "").endswith("started")]
    assert [line["attempt"] for line in starts] == [1, 2]
    assert starts[0]["worker"] == starts[1]["worker"]  # the restarted container kept its worker name
    for image_id in images:  # one annotation each: finished images were not run again
        annotation = client.get(f"/api/images/{image_id}/annotation/").json()
        assert annotation["version"] == 1, (image_id, image_id in done_before)


def parse(line: str) -> dict:
    try:
        return json.loads(line) if line.startswith("{") else {}
    except ValueError:
        return {}
