"""The whole path through the real in-process worker thread (JOB_RUNNER=thread), as in embedded
mode: upload, segment, watch the job go queued -> running -> succeeded, download the masks."""
import threading
import time

import pytest

from cellposeweb import work
from inference.models import JobItem, SegmentationJob
from inference.jobs import segmentation_job_create
from tests.web.conftest import data_file

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_S = 300
runner = work.pool("segmentation")  # the embedded pool segmentation jobs run on


@pytest.fixture
def thread_runner(settings):
    settings.JOB_RUNNER = "thread"
    yield runner
    wait_until(runner.is_idle)


def wait_until(condition, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.02)


def test_a_job_goes_from_queued_to_running_to_succeeded_with_masks(api, model_version, thread_runner):
    image = api.post("/api/images/", {"file": data_file("img2d.tif")}, format="multipart").json()

    created = api.post(f"/api/images/{image['id']}/segment/", {"diameter": 30, "augment": False}, format="json")
    assert created.status_code == 202
    seen = [created.json()["status"]]

    def finished():
        body = api.get(f"/api/jobs/{created.json()['id']}/").json()
        if body["status"] != seen[-1]:
            seen.append(body["status"])
        return body["status"] in ("succeeded", "failed", "cancelled")

    wait_until(finished)

    assert seen == ["queued", "running", "succeeded"]
    job = api.get(f"/api/jobs/{created.json()['id']}/").json()
    assert job["progress"] == 1.0 and job["error"] == ""
    assert job["images"][0]["status"] == "succeeded" and job["images"][0]["n_masks"] is not None
    annotation = api.get(f"/api/images/{image['id']}/annotation/").json()
    assert annotation["version"] == 1 and annotation["masks"]["shape"] == [512, 512]
    assert api.get(f"/api/images/{image['id']}/masks/", {"format": "tif"}).status_code == 200


def test_cancelling_a_job_on_the_worker_stops_it(api, model_version, thread_runner, make_image, monkeypatch):
    from inference import job_run

    monkeypatch.setattr(job_run, "PROGRESS_INTERVAL_S", 0.0)
    images = [make_image(name=f"{i}.tif") for i in range(6)]
    created = api.post("/api/jobs/", {"images": [i.pk for i in images], "diameter": 30, "augment": False}, format="json")
    job_id = created.json()["id"]
    wait_until(lambda: SegmentationJob.objects.get(pk=job_id).status == "running")

    response = api.post(f"/api/jobs/{job_id}/cancel/")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    wait_until(runner.is_idle)
    assert SegmentationJob.objects.get(pk=job_id).status == "cancelled"
    statuses = set(JobItem.objects.filter(job_id=job_id).values_list("status", flat=True))
    assert "cancelled" in statuses and statuses <= {"succeeded", "cancelled"}


def test_when_the_worker_starts_it_fails_interrupted_jobs_and_runs_queued_ones(owner, image, model_version, settings):
    settings.JOB_RUNNER = "off"  # create without dispatching, as if the process had stopped
    interrupted = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})
    SegmentationJob.objects.filter(pk=interrupted.pk).update(status="running")
    waiting = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})

    settings.JOB_RUNNER = "thread"
    runner.start()
    runner.recover()
    wait_until(lambda: SegmentationJob.objects.get(pk=waiting.pk).status == "succeeded")
    wait_until(runner.is_idle)

    interrupted.refresh_from_db()
    assert interrupted.status == "failed"
    assert "server stopped" in interrupted.error


def test_a_hung_worker_thread_is_replaced_and_its_job_runs_again_on_a_fresh_one(
        owner, image, model_version, settings, monkeypatch):
    from inference import job_run

    settings.JOB_RUNNER = "thread"
    settings.JOB_HEARTBEAT_INTERVAL_S = 0.05
    settings.JOB_STALL_TIMEOUT_S = 0.3  # no progress for 0.3 s: hung
    settings.JOB_HEARTBEAT_TIMEOUT_S = 0.5
    release, threads = threading.Event(), []
    real_segment = job_run._item_segment

    def first_call_hangs(**kwargs):
        threads.append(threading.current_thread())
        if len(threads) == 1:
            release.wait(120)
        return real_segment(**kwargs)

    monkeypatch.setattr(job_run, "_item_segment", first_call_hangs)
    job = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})
    wait_until(lambda: threads)
    hung_worker = SegmentationJob.objects.get(pk=job.pk).worker

    def taken_over():
        runner.watch_once()  # what the watchdog thread does every JOB_RECOVER_INTERVAL_S
        return SegmentationJob.objects.get(pk=job.pk).worker != hung_worker

    wait_until(taken_over, timeout=60)
    settings.JOB_HEARTBEAT_TIMEOUT_S = 120  # the second run may be slow on a loaded machine
    wait_until(lambda: SegmentationJob.objects.get(pk=job.pk).status == "succeeded")
    done = SegmentationJob.objects.get(pk=job.pk)
    assert done.attempts == 2 and done.worker != hung_worker
    assert len(threads) == 2 and threads[0] is not threads[1]  # run again by another thread
    assert done.items.get().n_masks is not None

    release.set()  # the hung thread wakes up and finishes its old run: it must not touch the new one
    wait_until(lambda: not threads[0].is_alive())  # ... and then stops: it was replaced
    wait_until(runner.is_idle)
    after = SegmentationJob.objects.get(pk=job.pk)
    assert (after.status, after.worker, after.timings, after.finished_at) == (
        "succeeded", done.worker, done.timings, done.finished_at)
    assert image.annotations.count() == 1
