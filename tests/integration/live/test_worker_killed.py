"""A segmentation worker killed mid-job (SIGKILL, as the OOM killer does): the job is re-queued and
resumes with the images it had not finished, or fails once it has been started JOB_MAX_ATTEMPTS (2)
times; it is never left "running", and no half-written result is ever visible."""
from annotations.models import Annotation
from tests.integration.live.conftest import tiff, upload
from tests.integration.servers import wait_until

SLOW = {"augment": True, "diameter": 30, "tile_overlap": 0.5}


def start_slow_job(stack, prefix, n=5):
    _, token = stack.user(prefix)
    client = stack.http(token)
    images = [upload(client, tiff(512, seed=i), name=f"{prefix}{i}.tif")["id"] for i in range(n)]
    response = client.post("/api/jobs/", json={"images": images, **SLOW})
    assert response.status_code == 202, response.text
    return client, response.json()["id"], images


def mid_job(stack, job_id, *, attempts=1):
    """Wait until the job has finished one image and is working on another."""
    from inference.models import JobItem

    def ready():
        job = stack.job(job_id)
        with stack.orm():
            statuses = list(JobItem.objects.filter(job_id=job_id).values_list("status", flat=True))
        return job.status == "running" and job.attempts == attempts and "succeeded" in statuses and "running" in statuses

    wait_until(ready, timeout=300, interval=0.05, what=f"job {job_id} to be mid-way (start {attempts})")


def annotations_per_image(stack, images):
    with stack.orm():
        return [Annotation.objects.filter(image_id=i).count() for i in images]


def assert_nothing_half_written(client, job_id):
    snapshot = client.get(f"/api/jobs/{job_id}/").json()
    assert snapshot["status"] == "running"
    running = [item for item in snapshot["images"] if item["status"] == "running"]
    assert len(running) == 1 and running[0]["n_masks"] is None
    assert client.get(f"/api/images/{running[0]['id']}/annotation/").status_code == 404
    assert client.get(f"/api/images/{running[0]['id']}/masks/").status_code == 404
    return [item["id"] for item in snapshot["images"] if item["status"] == "succeeded"]


def test_a_restarted_worker_resumes_the_job_it_was_killed_in(stack):
    client, job_id, images = start_slow_job(stack, "restart")
    mid_job(stack, job_id)

    stack.worker.kill()
    done_before = assert_nothing_half_written(client, job_id)
    stack.start_worker("gpu1@it")  # the same worker comes back (a container restart)

    job = stack.wait_job(job_id)
    assert job.status == "succeeded" and job.attempts == 2, (job.status, job.error)
    assert annotations_per_image(stack, images) == [1] * len(images)  # finished images were not redone
    assert all(i in images for i in done_before)


def test_a_job_whose_worker_never_returns_is_recovered_by_the_sweep(stack):
    client, job_id, images = start_slow_job(stack, "sweep")
    mid_job(stack, job_id)

    stack.worker.kill()
    assert_nothing_half_written(client, job_id)
    stack.start_worker("gpu2@it")  # another worker; only the stale heartbeat tells the job is orphaned

    job = stack.wait_job(job_id)
    assert job.status == "succeeded" and job.attempts == 2, (job.status, job.error)
    assert annotations_per_image(stack, images) == [1] * len(images)


def test_a_job_killed_at_every_start_fails_with_the_reason(stack):
    client, job_id, images = start_slow_job(stack, "doomed")
    mid_job(stack, job_id)
    stack.worker.kill()
    stack.start_worker("gpu1@it")
    mid_job(stack, job_id, attempts=2)

    stack.worker.kill()
    assert_nothing_half_written(client, job_id)
    stack.start_worker("gpu1@it")

    job = stack.wait_job(job_id)
    assert job.status == "failed" and "stopped 2 times" in job.error
    body = client.get(f"/api/jobs/{job_id}/").json()
    assert body["status"] == "failed" and {item["status"] for item in body["images"]} <= {"succeeded", "failed"}
    assert all(n <= 1 for n in annotations_per_image(stack, images))
