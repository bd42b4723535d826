"""job_run.segmentation_job_run with the tiny real model: results, failures, cancellation."""
from pathlib import Path

import numpy as np
import pytest

from annotations.files import load_npz
from annotations.models import Annotation
from annotations.selectors import annotation_load
from inference import job_run, rethreshold
from inference.engine import CellposeModel
from inference.models import JobItem, SegmentationJob
from inference.job_run import segmentation_job_run
from inference.jobs import segmentation_job_cancel, segmentation_job_create

pytestmark = pytest.mark.django_db

FAST = {"augment": False, "diameter": 30}


def test_a_job_saves_masks_flows_and_a_new_annotation_version(owner, image, model_version):
    job = segmentation_job_create(owner=owner, images=[image], options={**FAST, "cellprob_threshold": -6})

    finished = segmentation_job_run(job_id=job.pk)

    assert finished.status == "succeeded", finished.error
    assert finished.progress == 1.0 and finished.error == "" and finished.stage == "succeeded"
    assert finished.started_at and finished.finished_at
    assert {"queued", "load_model", "total"} <= set(finished.timings)
    item = JobItem.objects.get(job=job)
    assert item.status == "succeeded" and item.diameter == 30.0
    assert {"network", "dynamics", "item"} <= set(item.timings)
    masks, _ = annotation_load(Annotation.objects.get(image=image))  # the masks are the image's next version
    flows = load_npz(item.flows)
    assert masks.shape == (64, 64) and masks.dtype == np.int32
    assert flows["dP"].shape == (2, 64, 64) and flows["cellprob"].shape == (64, 64)
    assert flows["dP"].dtype == np.float32 and int(flows["niter"]) > 0
    annotation = Annotation.objects.get(image=image)
    assert (annotation.version, annotation.source, annotation.job_id) == (1, "model", job.pk)
    assert annotation.n_masks == item.n_masks == int(masks.max())


def test_each_run_adds_a_version_and_keeps_the_old_ones(owner, image, model_version):
    for _ in range(2):
        job = segmentation_job_create(owner=owner, images=[image], options=FAST)
        segmentation_job_run(job_id=job.pk)

    assert list(image.annotations.values_list("version", flat=True)) == [2, 1]


def test_a_job_is_run_only_once(owner, image, model_version):
    job = segmentation_job_create(owner=owner, images=[image], options=FAST)

    assert segmentation_job_run(job_id=job.pk).status == "succeeded"
    assert segmentation_job_run(job_id=job.pk) is None
    assert Annotation.objects.count() == 1


def test_an_unreadable_image_fails_the_job_with_its_reason(owner, image, model_version):
    Path(image.file.path).write_bytes(b"gone")
    job = segmentation_job_create(owner=owner, images=[image], options=FAST)

    finished = segmentation_job_run(job_id=job.pk)

    assert finished.status == "failed"
    assert finished.error == "cells.tif: unsupported format (unrecognised content); supported formats are TIFF, PNG and JPEG"
    assert str(Path(image.file.path).parent) not in finished.error
    item = JobItem.objects.get(job=job)
    assert item.status == "failed" and item.error.startswith("unsupported format")
    assert not Annotation.objects.exists()


def test_a_broken_model_file_fails_the_job_with_its_reason(owner, image, model_version):
    Path(model_version.file.path).write_bytes(b"not a model")
    job = segmentation_job_create(owner=owner, images=[image], options=FAST)

    finished = segmentation_job_run(job_id=job.pk)

    assert finished.status == "failed"
    assert finished.error.startswith("could not load the model tiny v1: ")
    assert "not a readable model file" in finished.error
    assert JobItem.objects.get(job=job).status == "failed"


def test_a_batch_succeeds_with_the_failures_listed(owner, make_image, model_version):
    good, bad = make_image(name="good.tif"), make_image(name="bad.tif")
    Path(bad.file.path).write_bytes(b"")
    job = segmentation_job_create(owner=owner, images=[bad, good], options=FAST)

    finished = segmentation_job_run(job_id=job.pk)

    assert finished.status == "succeeded"
    assert finished.error == "1 of 2 images failed: bad.tif: empty file (0 bytes)"
    assert dict(JobItem.objects.filter(job=job).values_list("image__name", "status")) == {
        "good.tif": "succeeded", "bad.tif": "failed"
    }


def test_cancelling_a_running_job_stops_it_and_keeps_no_results(owner, image, model_version, monkeypatch, settings):
    job = segmentation_job_create(owner=owner, images=[image], options=FAST)
    real_segment = CellposeModel.segment

    def segment_then_cancel(self, *args, progress, **kwargs):
        def report(stage, fraction):
            if stage == "network":  # the user presses cancel while the network runs
                segmentation_job_cancel(job=SegmentationJob.objects.get(pk=job.pk))
            progress(stage, fraction)

        return real_segment(self, *args, progress=report, **kwargs)

    monkeypatch.setattr(CellposeModel, "segment", segment_then_cancel)
    monkeypatch.setattr(job_run, "PROGRESS_INTERVAL_S", 0.0)

    finished = segmentation_job_run(job_id=job.pk)

    assert finished.status == "cancelled"
    assert JobItem.objects.get(job=job).status == "cancelled"
    assert not Annotation.objects.exists()
    stored = [p.name for p in Path(settings.MEDIA_ROOT).rglob("*.npz")]
    assert stored == []


def test_progress_only_moves_forward_and_reaches_one(owner, make_image, model_version, monkeypatch):
    images = [make_image(name=f"{i}.tif") for i in range(2)]
    job = segmentation_job_create(owner=owner, images=images, options=FAST)
    seen = []
    monkeypatch.setattr(job_run, "PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.setattr(job_run, "job_event_send_on_commit", lambda **event: seen.append(event))

    segmentation_job_run(job_id=job.pk)

    progress = [event["progress"] for event in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert seen[0]["stage"] == "loading model"
    assert any(event["stage"] == "network (image 2 of 2)" for event in seen)
    assert seen[-1]["status"] == "succeeded"


def test_a_stack_segmented_plane_by_plane_keeps_its_stitching_when_rethresholded(
        owner, make_image, model_version, monkeypatch):
    from tests.web.conftest import DATA

    stack = make_image(name="stack.tif", content=(DATA / "img3d.tif").read_bytes())
    job = segmentation_job_create(owner=owner, images=[stack],
                                  options={**FAST, "do_3d": False, "stitch_threshold": 0.3, "cellprob_threshold": -6})

    finished = segmentation_job_run(job_id=job.pk)

    assert finished.status == "succeeded", finished.error
    assert finished.params["stitch_threshold"] == 0.3
    item = JobItem.objects.get(job=job)
    flows = load_npz(item.flows)
    assert annotation_load(Annotation.objects.get(job=job))[0].shape == (31, 61, 57)
    assert flows["dP"].shape == (3, 31, 61, 57) and not flows["dP"][0].any()  # plane by plane: no Z flow
    calls, real = [], rethreshold.recompute_masks
    monkeypatch.setattr(rethreshold, "recompute_masks", lambda *a, **k: calls.append(k) or real(*a, **k))
    again = rethreshold.masks_rethreshold(image=stack, cellprob_threshold=-6, flow_threshold=0.4)
    assert calls[0]["stitch_threshold"] == 0.3
    assert again.version == 2 and again.n_masks == item.n_masks


@pytest.mark.django_db(transaction=True)  # so that "inside a transaction" means the job's own
def test_a_job_writes_its_result_files_before_it_locks_any_row(owner, image, model_version, monkeypatch):
    from django.db import connection

    from annotations import services as annotation_services

    seen = []
    real = annotation_services.npz_content

    def content(**arrays):
        seen.append(connection.in_atomic_block)
        return real(**arrays)

    monkeypatch.setattr(annotation_services, "npz_content", content)
    monkeypatch.setattr(job_run, "npz_content", content)
    job = segmentation_job_create(owner=owner, images=[image], options=FAST)

    assert segmentation_job_run(job_id=job.pk).status == "succeeded"
    assert len(seen) == 2 and not any(seen)  # the flows and the annotation's masks
