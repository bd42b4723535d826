"""Jobs whose worker died are re-queued (resuming where they stopped) or failed, never left running;
queue messages lost with a broker are sent again; an outage mid-job re-queues the job."""
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from annotations.models import Annotation
from cellposeweb import work
from inference import job_run
from inference.models import JobItem, SegmentationJob
from inference.recovery import SEGMENTATION, segmentation_jobs_recover
from inference.job_run import segmentation_job_run
from inference.jobs import segmentation_job_create

pytestmark = pytest.mark.django_db

OPTIONS = {"augment": False, "diameter": 30}


@pytest.fixture
def recovery_settings(settings):
    settings.JOB_HEARTBEAT_TIMEOUT_S = 60
    settings.JOB_MAX_ATTEMPTS = 2
    return settings


def died_while_running(job, *, seconds_ago=600, worker="gpu1@host", attempts=1, running_item=None):
    """Leave ``job`` as a worker that was killed leaves it: running, with an old heartbeat."""
    stamp = timezone.now() - timedelta(seconds=seconds_ago)
    SegmentationJob.objects.filter(pk=job.pk).update(
        status="running", started_at=stamp, heartbeat_at=stamp, worker=worker, attempts=attempts, stage="network"
    )
    if running_item is not None:
        JobItem.objects.filter(pk=running_item.pk).update(status="running")


def test_a_job_whose_worker_died_is_requeued_and_resumes_without_redoing_finished_images(
    owner, make_image, model_version, recovery_settings
):
    images = [make_image(name=f"{i}.tif") for i in range(3)]
    job = segmentation_job_create(owner=owner, images=images, options=OPTIONS)
    first, second, _ = job.items.order_by("position")
    segmentation_job_run(job_id=job.pk)  # a full run, then pretend the worker died after image 1
    SegmentationJob.objects.filter(pk=job.pk).update(status="queued", finished_at=None)
    JobItem.objects.filter(job=job).exclude(pk=first.pk).update(status="queued", flows="", n_masks=None)
    Annotation.objects.filter(job=job).exclude(image=first.image).delete()
    died_while_running(job, running_item=second)

    result = segmentation_jobs_recover()

    job.refresh_from_db()
    assert result == {"requeued": [job.pk], "failed": []}
    assert job.status == "queued" and job.worker == "" and job.heartbeat_at is None
    assert job.progress == pytest.approx(1 / 3)
    assert "re-queued" in job.stage
    assert list(job.items.order_by("position").values_list("status", flat=True)) == ["succeeded", "queued", "queued"]

    assert segmentation_job_run(job_id=job.pk).status == "succeeded"
    job.refresh_from_db()
    assert job.attempts == 2 and job.timings["attempts"] == 2
    assert Annotation.objects.filter(job=job, image=first.image).count() == 1  # not segmented again
    assert Annotation.objects.filter(job=job).count() == 3


def test_a_job_out_of_attempts_fails_with_the_reason(owner, image, model_version, recovery_settings):
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)
    died_while_running(job, attempts=2, running_item=job.items.get())

    result = segmentation_jobs_recover()

    job.refresh_from_db()
    assert result == {"requeued": [], "failed": [job.pk]}
    assert job.status == "failed" and job.finished_at is not None
    assert "stopped 2 times" in job.error
    assert job.items.get().status == "failed"


def test_a_job_with_a_fresh_heartbeat_is_left_alone(owner, image, model_version, recovery_settings):
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)
    died_while_running(job, seconds_ago=5)

    assert segmentation_jobs_recover() == {"requeued": [], "failed": []}
    assert SegmentationJob.objects.get(pk=job.pk).status == "running"


def test_a_restarted_worker_recovers_its_own_jobs_at_once(owner, make_image, model_version, recovery_settings):
    mine = segmentation_job_create(owner=owner, images=[make_image(name="a.tif")], options=OPTIONS)
    theirs = segmentation_job_create(owner=owner, images=[make_image(name="b.tif")], options=OPTIONS)
    died_while_running(mine, seconds_ago=1, worker="gpu1@host")
    died_while_running(theirs, seconds_ago=1, worker="gpu2@host")

    result = segmentation_jobs_recover(restarted_worker="gpu1@host")

    assert result == {"requeued": [mine.pk], "failed": []}
    assert SegmentationJob.objects.get(pk=theirs.pk).status == "running"


def test_running_a_job_records_the_worker_and_the_heartbeat(owner, image, model_version, monkeypatch):
    monkeypatch.setattr(job_run, "PROGRESS_INTERVAL_S", 0.0)
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)
    stamps = []
    original = job_run._ProgressReporter.__call__

    def spy(self, stage, fraction):
        original(self, stage, fraction)
        stamps.append(SegmentationJob.objects.get(pk=job.pk).heartbeat_at)

    monkeypatch.setattr(job_run._ProgressReporter, "__call__", spy)

    done = segmentation_job_run(job_id=job.pk, worker="gpu1@host")

    assert done.status == "succeeded" and done.worker == "gpu1@host" and done.attempts == 1
    assert len(stamps) > 3 and stamps == sorted(stamps) and stamps[0] < stamps[-1]


@pytest.mark.django_db(transaction=True)  # the heartbeat thread has its own connection
def test_the_heartbeat_thread_stamps_a_job_that_reports_no_progress(owner, image, model_version, settings):
    import time

    settings.JOB_HEARTBEAT_INTERVAL_S = 0.05
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)
    old = timezone.now() - timedelta(hours=1)
    SegmentationJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=old)
    with work.Heartbeat(SegmentationJob, job.pk):
        deadline = time.monotonic() + 20
        while SegmentationJob.objects.get(pk=job.pk).heartbeat_at == old:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.05)


def test_the_heartbeat_stops_once_a_job_has_made_no_progress_for_the_stall_timeout(owner, image, model_version):
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)
    SegmentationJob.objects.filter(pk=job.pk).update(status="running", stage="network", progress=0.1)
    now = [1000.0]  # an injected clock: the test never waits
    heartbeat = work.Heartbeat(SegmentationJob, job.pk, interval=10, stall=60, clock=lambda: now[0])

    def stamp():
        return SegmentationJob.objects.get(pk=job.pk).heartbeat_at

    for step in range(1, 6):  # progress keeps moving: the heartbeat goes on for longer than the stall timeout
        now[0] += 30
        SegmentationJob.objects.filter(pk=job.pk).update(progress=0.1 + 0.1 * step)
        assert heartbeat.beat()
    now[0] += 59  # no progress, but within the stall timeout: still alive
    assert heartbeat.beat()
    alive = stamp()
    now[0] += 2  # no progress for 61 s: stuck
    assert not heartbeat.beat()
    assert stamp() == alive  # no more stamps: the sweep will see it as stale


def test_the_heartbeat_stops_once_the_job_is_no_longer_running(owner, image, model_version):
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)

    assert not work.Heartbeat(SegmentationJob, job.pk, interval=10, stall=60).beat()  # still queued
    assert stamp_of(job) is None


def stamp_of(job):
    return SegmentationJob.objects.get(pk=job.pk).heartbeat_at


def test_a_database_outage_mid_job_requeues_it_without_counting_a_start(owner, image, model_version, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)

    def outage(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(job_run, "_item_segment", outage)
    sent = []
    monkeypatch.setattr(work, "dispatch", lambda kind, pk: sent.append(pk))

    with django_capture_on_commit_callbacks(execute=True):
        assert segmentation_job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 0 and job.error == ""
    assert job.items.get().status == "queued"
    assert sent == [job.pk]


def test_lost_queue_messages_are_sent_again(owner, make_image, model_version, settings, monkeypatch):
    settings.JOB_RUNNER = "off"
    for name in ("a.tif", "b.tif", "c.tif"):
        segmentation_job_create(owner=owner, images=[make_image(name=name)], options=OPTIONS)
    settings.JOB_RUNNER = "celery"
    sent = []
    monkeypatch.setattr(work, "dispatch", lambda kind, pk: sent.append(pk))
    monkeypatch.setattr(work, "queue_lengths", lambda: {"gpu": 1, "cpu": 0, "training": 0})

    assert work.dispatch_missing(SEGMENTATION) == 2
    assert len(sent) == 2


def test_a_broker_that_is_down_leaves_the_job_queued_and_the_sweep_sends_it_later(
        owner, image, model_version, settings, monkeypatch, caplog, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError as BrokerError

    from cellposeweb.celery import app

    settings.JOB_RUNNER = "celery"
    sent = []

    def unreachable(name, args=None, **kwargs):
        raise BrokerError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)  # the request succeeds

    assert SegmentationJob.objects.get(pk=job.pk).status == "queued"
    assert f"job {job.pk}: could not reach the broker" in caplog.text and "stays queued" in caplog.text

    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kwargs: sent.append((name, args, kwargs["queue"])))
    monkeypatch.setattr(work, "queue_lengths", lambda: {"gpu": 0, "cpu": 0, "training": 0})  # the broker is back, empty
    with django_capture_on_commit_callbacks(execute=True):
        segmentation_jobs_recover()

    assert sent == [("inference.segmentation_job_run_next", [], "gpu")]
