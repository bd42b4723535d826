"""A tiled image segmented through Celery on the live stack (PostgreSQL, Redis, S3): its blocks are
tasks on the "gpu" queue, a second worker takes some of them, and the stitched labels come back
as a streamed export."""
import json

import numpy as np
import tifffile

from tests.integration.servers import wait_until


def tiled_image(stack, owner, size=768):
    """An image stored tiled in the stack's S3 (as the ingest stores a large one): the real test
    image tiled to ``size`` x ``size``."""
    from annotations import slides
    from annotations.models import Image
    from annotations.sources import open_source
    from tests.web.conftest import DATA

    picture = tifffile.imread(DATA / "img2d.tif")
    reps = -(-size // picture.shape[0])
    array = np.tile(picture, (reps, reps))[:size, :size]
    path = stack.log_dir / f"slide-{size}.tif"
    tifffile.imwrite(path, array)
    with stack.orm(), open_source(path, max_pixels=2**32) as source:
        image = Image.objects.create(owner=owner, name="slide.tif", file="images/it/slide.tif", shape=list(source.shape),
                                     dtype=str(source.dtype), axes=source.axes, size_bytes=path.stat().st_size,
                                     sha256="0" * 64, tiled=True)
        image.display = slides.write_pixels(image, source)
        image.save()
    return image


def start_another_worker(stack, name):
    """A second segmentation worker beside the stack's own (which stays ``stack.worker``, the one
    the stack stops at the end); the caller stops or kills it."""
    main = stack.worker
    try:
        return stack.start_worker(name)
    finally:
        stack.worker = main


def blocks_of(stack, job_id):
    from inference.models import JobBlock

    with stack.orm():
        return list(JobBlock.objects.filter(item__job_id=job_id).values("index", "status", "worker"))


def test_a_tiled_job_finishes_through_celery_with_its_blocks_shared_by_two_workers(stack):
    owner, token = stack.user("tiled")
    image = tiled_image(stack, owner)
    second = start_another_worker(stack, "gpu3@it")
    try:
        client = stack.http(token)
        response = client.post(f"/api/images/{image.pk}/segment/", json={"augment": False, "diameter": 30})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]

        job = stack.wait_job(job_id, timeout=600)
    finally:
        second.stop()

    assert job.status == "succeeded", job.error
    blocks = blocks_of(stack, job_id)
    assert len(blocks) == 9 and {b["status"] for b in blocks} == {"succeeded"}
    assert len({b["worker"] for b in blocks}) == 2  # the job's worker and the other one both ran blocks
    with stack.orm():
        annotation = image.annotations.get()
    assert annotation.labels_key and annotation.job_id == job_id
    body = client.get(f"/api/images/{image.pk}/masks/", params={"format": "geojson"})
    assert body.status_code == 200 and json.loads(body.content)["type"] == "FeatureCollection"
    cells = client.get(f"/api/images/{image.pk}/masks/", params={"format": "csv"})
    assert cells.status_code == 200 and cells.text.startswith("label,bbox_y0,bbox_x0")


def test_a_tiled_job_cancelled_through_the_api_stops_its_queued_blocks(stack):
    owner, token = stack.user("tiledcancel")
    image = tiled_image(stack, owner, size=1024)
    client = stack.http(token)
    job_id = client.post(f"/api/images/{image.pk}/segment/", json={"augment": True, "diameter": 30}).json()["id"]
    wait_until(lambda: any(b["status"] == "succeeded" for b in blocks_of(stack, job_id)), timeout=300,
               what="a first block to finish")

    assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 200

    job = stack.wait_job(job_id)
    assert job.status == "cancelled"
    wait_until(lambda: not any(b["status"] in ("queued", "running") for b in blocks_of(stack, job_id)), timeout=120,
               what="no block queued or running")
    assert any(b["status"] == "cancelled" for b in blocks_of(stack, job_id))


def test_a_block_whose_worker_is_killed_is_redone_by_another(stack):
    from inference.models import JobBlock

    owner, token = stack.user("tiledkill")
    image = tiled_image(stack, owner, size=1024)
    doomed = start_another_worker(stack, "gpu4@it")
    client = stack.http(token)
    job_id = client.post(f"/api/images/{image.pk}/segment/", json={"augment": True, "diameter": 30}).json()["id"]

    def running_on_doomed():
        with stack.orm():
            return JobBlock.objects.filter(item__job_id=job_id, status="running", worker="gpu4@it").values_list(
                "pk", flat=True).first()

    block_id = wait_until(running_on_doomed, timeout=300, interval=0.02, what="a block running on gpu4")
    doomed.kill()  # SIGKILL mid-block, as the OOM killer does (it may have been the job's own worker too)

    job = stack.wait_job(job_id, timeout=600)
    assert job.status == "succeeded", job.error
    with stack.orm():
        block = JobBlock.objects.get(pk=block_id)
        statuses = set(JobBlock.objects.filter(item__job_id=job_id).values_list("status", flat=True))
    assert block.status == "succeeded" and block.attempts == 2 and block.worker != "gpu4@it"
    assert statuses == {"succeeded"}
