"""Queue back-pressure on the real worker: more jobs than it can run queue fairly (one user cannot
starve another), and a user over the active-job limit is answered 429 with Retry-After."""
from tests.integration.live.conftest import tiff, upload

JOB = {"augment": True, "diameter": 30}


def test_a_user_with_one_job_is_not_starved_by_one_with_many(stack):
    _, heavy_token = stack.user("heavy")
    _, light_token = stack.user("light")
    heavy, light = stack.http(heavy_token), stack.http(light_token)
    heavy_image = upload(heavy, tiff(256, seed=1), name="heavy.tif")["id"]
    light_image = upload(light, tiff(256, seed=2), name="light.tif")["id"]
    heavy_jobs = []
    for _ in range(5):
        response = heavy.post(f"/api/images/{heavy_image}/segment/", json=JOB)
        assert response.status_code == 202, response.text
        heavy_jobs.append(response.json()["id"])
    stack.wait_job(heavy_jobs[0], statuses=("running", "succeeded"))

    light_job = light.post(f"/api/images/{light_image}/segment/", json=JOB).json()["id"]

    finished = [stack.wait_job(job_id) for job_id in heavy_jobs + [light_job]]
    assert all(job.status == "succeeded" for job in finished)
    light_run = finished[-1]
    heavy_after = sorted(job.started_at for job in finished[:-1] if job.started_at > light_run.created_at)
    assert len(heavy_after) >= 2, "the heavy user's jobs ran before the light one was even queued"
    # It waits for the heavy job running when it arrived, not for the heavy user's queue: at most
    # one heavy job (taken at the same instant) starts between its submission and its own start.
    assert light_run.started_at <= heavy_after[1], (light_run.started_at, heavy_after)


def test_a_user_over_the_active_job_limit_gets_429_with_retry_after(stack):
    _, token = stack.user("greedy")
    client = stack.http(token)
    image = upload(client, tiff(128, seed=4), name="greedy.tif")["id"]

    statuses = [client.post(f"/api/images/{image}/segment/", json=JOB).status_code for _ in range(8)]

    assert statuses[:6] == [202] * 6 and 429 in statuses[6:]  # JOB_MAX_ACTIVE_PER_USER=6 in the stack
    refused = client.post(f"/api/images/{image}/segment/", json=JOB)
    if refused.status_code == 429:
        assert refused.headers["Retry-After"] == "5" and "queued or running" in refused.json()["detail"]
    from inference.models import SegmentationJob

    with stack.orm():
        ids = list(SegmentationJob.objects.filter(owner__username__startswith="greedy").values_list("pk", flat=True))
    assert all(stack.wait_job(job_id).status == "succeeded" for job_id in ids)
