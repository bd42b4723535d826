"""The ingest of tiled images as background work (annotations.upload_ingest on cellposeweb.work):
202 and a URL to poll, done with the image, a failure that keeps nothing, recovery of a dead
worker's ingest, and the embedded pool running it."""
import time
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from annotations import slides
from annotations.models import Image, Upload
from annotations.upload_ingest import INGEST, SERVER_ERROR, upload_ingest_run
from cellposeweb import work
from cellposeweb.work import WorkStatus
from tests.web.conftest import small_image, stored_names, tiff_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_tiling(settings):
    settings.TILED_MIN_PIXELS = 600 * 600


def slide() -> np.ndarray:
    y, x = np.mgrid[:1300, :1100]
    return (x * 20 + y * 10).astype(np.uint16)


def post(api, content, name="slide.tif"):
    return api.post("/api/images/", {"file": upload(name, content)}, format="multipart")


@pytest.fixture
def new_files():
    """The stored names under a prefix that this test added (the integration tier's S3 bucket holds
    other tests' files too)."""
    before = {prefix: set(stored_names(prefix)) for prefix in ("images", "uploads")}
    return lambda prefix: sorted(set(stored_names(prefix)) - before[prefix])


def test_a_tiled_upload_answers_202_and_is_ingesting_until_a_worker_builds_it(api):
    response = post(api, tiff_bytes(slide()))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "ingesting" and body["image"] is None and body["url"] == f"/api/uploads/{body['id']}/"
    assert not Image.objects.exists()  # no image row before its pixels exist
    polled = api.get(body["url"]).json()
    assert polled["status"] == "ingesting" and polled["progress"] == 0.0
    upload_ingest_run(upload_id=body["id"], worker="worker-1")
    polled = api.get(body["url"]).json()
    image = Image.objects.get(pk=polled["image"])
    assert polled["status"] == "done" and polled["progress"] == 1.0
    np.testing.assert_array_equal(slides.open_level(image)[...], slide())


def test_a_small_upload_keeps_the_synchronous_path(api):
    response = post(api, tiff_bytes(small_image()))
    assert response.status_code == 201 and response.json()["tiled"] is False
    assert not Upload.objects.exists()


def test_the_worker_records_the_share_of_bands_written(api, monkeypatch):
    upload_id = post(api, tiff_bytes(slide())).json()["id"]
    seen = []
    real = slides.build_pixels

    def watching(source, folder, *, name, progress=None):
        def report(done, total):
            progress(done, total)
            seen.append(Upload.objects.get(pk=upload_id).progress)
        return real(source, folder, name=name, progress=report)

    monkeypatch.setattr(slides, "build_pixels", watching)
    upload_ingest_run(upload_id=upload_id, worker="worker-1")
    assert seen[0] > 0 and seen == sorted(seen) and seen[-1] == 1.0  # 1300 rows: 3 bands of 512, then levels


def test_a_failed_ingest_says_why_and_keeps_no_image_and_no_pixels(new_files, api, settings, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    def half_stored(image, folder):
        default_storage.save(f"images/{image.pk}/pixels.zarr/.zgroup", ContentFile(b"{}"))
        raise OSError("disk full")

    monkeypatch.setattr(slides, "store_pixels", half_stored)
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = post(api, tiff_bytes(slide())).json()["id"]
        upload_ingest_run(upload_id=upload_id, worker="worker-1")
    polled = api.get(f"/api/uploads/{upload_id}/").json()
    assert polled["status"] == "failed" and polled["error"] == SERVER_ERROR and polled["image"] is None
    assert not Image.objects.exists()
    assert new_files("images") == [] and new_files("uploads") == []


def test_an_upload_being_ingested_cannot_be_completed_again_and_deleting_it_when_done_keeps_the_image(api):
    upload_id = post(api, tiff_bytes(slide())).json()["id"]
    assert api.post(f"/api/uploads/{upload_id}/complete/", {}, format="json").status_code == 409
    upload_ingest_run(upload_id=upload_id, worker="worker-1")
    assert api.delete(f"/api/uploads/{upload_id}/").status_code == 204
    assert not Upload.objects.exists()
    assert Image.objects.count() == 1  # deleting the finished upload keeps its image


def test_deleting_a_queued_ingest_cancels_it_and_no_worker_builds_it_later(
        new_files, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = post(api, tiff_bytes(slide())).json()["id"]
        assert new_files("uploads") != []
        assert api.delete(f"/api/uploads/{upload_id}/").status_code == 204
    polled = api.get(f"/api/uploads/{upload_id}/").json()
    assert polled["status"] == "cancelled" and "nothing was kept" in polled["error"]
    assert new_files("uploads") == []
    upload_ingest_run(upload_id=upload_id, worker="worker-1")  # its message arrives after all
    assert Upload.objects.get().status == WorkStatus.CANCELLED and not Image.objects.exists()


def test_deleting_a_running_ingest_stops_the_worker_at_its_next_step_and_keeps_nothing(
        new_files, api, monkeypatch, django_capture_on_commit_callbacks):
    upload_id = post(api, tiff_bytes(slide())).json()["id"]
    real, steps = slides.build_pixels, []

    def cancelled_after_the_first_band(source, folder, *, name, progress=None):
        def report(done, total):
            steps.append(done)
            if len(steps) == 1:
                assert api.delete(f"/api/uploads/{upload_id}/").status_code == 204  # the owner cancels
            progress(done, total)
        return real(source, folder, name=name, progress=report)

    monkeypatch.setattr(slides, "build_pixels", cancelled_after_the_first_band)
    with django_capture_on_commit_callbacks(execute=True):
        upload_ingest_run(upload_id=upload_id, worker="worker-1")
    assert steps == [1]  # it stopped at once, not after the whole pyramid
    polled = api.get(f"/api/uploads/{upload_id}/").json()
    assert polled["status"] == "cancelled" and polled["image"] is None
    assert not Image.objects.exists() and new_files("images") == [] and new_files("uploads") == []


def test_the_recovery_sweep_requeues_a_dead_workers_ingest_and_the_next_worker_finishes_it(api, settings):
    upload_id = post(api, tiff_bytes(slide())).json()["id"]
    assert work.take(Upload, upload_id, worker="killed-worker", stage="building the pyramid")
    old = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S + 1)
    Upload.objects.filter(pk=upload_id).update(heartbeat_at=old, progress=0.4)
    assert work.sweep(INGEST)["requeued"] == [Upload.objects.get().pk]
    assert api.get(f"/api/uploads/{upload_id}/").json()["status"] == "ingesting"
    assert Upload.objects.get().progress == 0.0
    upload_ingest_run(upload_id=upload_id, worker="worker-2")
    upload = Upload.objects.get()
    assert upload.status == WorkStatus.SUCCEEDED and upload.attempts == 2 and upload.worker == "worker-2"
    assert Image.objects.get().pk == upload.image_id


def test_an_ingest_whose_workers_keep_dying_fails_with_the_reason(new_files, api, settings, django_capture_on_commit_callbacks):
    settings.JOB_MAX_ATTEMPTS = 1
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = post(api, tiff_bytes(slide())).json()["id"]
        work.take(Upload, upload_id, worker="killed-worker", stage="building the pyramid")
        Upload.objects.filter(pk=upload_id).update(heartbeat_at=timezone.now() - timedelta(days=1))
        work.sweep(INGEST)
    polled = api.get(f"/api/uploads/{upload_id}/").json()
    assert polled["status"] == "failed" and "stopped 1 times" in polled["error"]
    assert new_files("uploads") == [] and not Image.objects.exists()


def test_a_worker_whose_ingest_the_sweep_took_over_keeps_nothing(new_files, api, settings, monkeypatch):
    upload_id = post(api, tiff_bytes(slide())).json()["id"]
    real = slides.build_pixels

    def slow(*args, **kwargs):  # meanwhile the sweep decided this worker was dead
        Upload.objects.filter(pk=upload_id).update(status=WorkStatus.QUEUED, worker="", heartbeat_at=None)
        return real(*args, **kwargs)

    monkeypatch.setattr(slides, "build_pixels", slow)
    upload_ingest_run(upload_id=upload_id, worker="worker-1")
    assert Upload.objects.get().status == WorkStatus.QUEUED  # for the next worker, untouched
    assert not Image.objects.exists() and new_files("images") == []


@pytest.mark.django_db(transaction=True)
def test_the_embedded_pool_runs_the_ingest(new_files, api, settings):
    settings.JOB_RUNNER = "thread"
    runner = work.pool(INGEST.name)
    body = post(api, tiff_bytes(slide())).json()
    deadline = time.monotonic() + 120
    while api.get(body["url"]).json()["status"] == "ingesting":
        assert time.monotonic() < deadline, "the embedded pool did not finish the ingest"
        time.sleep(0.05)
    polled = api.get(body["url"]).json()
    assert polled["status"] == "done" and polled["progress"] == 1.0
    assert Image.objects.get(pk=polled["image"]).tiled
    assert new_files("uploads") == []
    while not runner.is_idle():
        time.sleep(0.02)



def test_with_celery_the_ingest_task_is_sent_by_name_to_the_cpu_queue_and_runs_it(
        api, settings, monkeypatch, django_capture_on_commit_callbacks):
    from annotations.tasks import upload_ingest_run_task
    from cellposeweb.celery import app

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args, queue: sent.append((name, args, queue)))
    settings.JOB_RUNNER = "celery"
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = post(api, tiff_bytes(slide())).json()["id"]
    assert sent == [("annotations.upload_ingest_run", [Upload.objects.get().pk], "cpu")]
    upload_ingest_run_task.apply(args=sent[0][1])  # what worker-cpu does with the message
    assert api.get(f"/api/uploads/{upload_id}/").json()["status"] == "done"
