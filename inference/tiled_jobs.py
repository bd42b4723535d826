"""Segmenting a tiled image block by block (docs/deploy.md, "Large images").

A job item whose image is tiled (``annotations.slides.is_tiled``) runs in three steps, all on the
one lifecycle of background work (cellposeweb.work):

1. **plan** (the job's worker, once per item): the block grid (engine ``plan_blocks``), the
   diameter (given, or estimated once on the most contrasted full-resolution window, the
   engine's ``estimate_block_diameter``, as ``segment_blocks`` does) and the normalisation
   percentiles (engine ``global_normalisation``, from a bounded sample), kept on the item
   (``JobItem.tiled``, ``JobItem.diameter``) so that every block, on any worker and in any later
   attempt, is segmented the same way; then one ``JobBlock`` row per block, each sent as a
   message of its own (kind ``SEGMENTATION_BLOCK``: a Celery task on the "gpu" queue, or the
   embedded pool's block thread).
2. **blocks** (`job_block_run`, the one per-block function, on any worker): take the block by
   compare-and-set, read its padded region of level 0, ``segment_block``, store its local labels
   (a compressed ``.npz`` under ``results/blocks/``), mark it done. While it waits, the
   job's own worker takes queued blocks too, so one worker alone finishes a job and N workers
   share its blocks; it also runs the recovery sweep of blocks every JOB_RECOVER_INTERVAL_S, so
   a block whose worker died is redone even when no other worker is free to run beat's sweep.
3. **stitch** (the job's worker, once every block is done): ``stitch_labels`` into new labels
   (``create_labels``), ``build_label_pyramid``, the per-cell table read back block by block,
   then the annotation version and the item's success in one transaction.

Progress is the share of blocks done. Cancelling the job cancels its blocks (a running one is
dropped when it ends); a block whose worker died is re-queued by the recovery sweep and redone;
a block that fails fails its image.
"""
import logging
import time
from io import BytesIO

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from annotations import display, slides
from annotations.files import delete_stored, npz_bytes
from annotations.models import Annotation
from annotations.services import StaleVersionError, annotation_prepared_discard, annotation_prepared_save
from annotations.tiled_masks import annotation_prepare_tiled
from cellposeweb import work
from cellposeweb.exceptions import unavailable_service
from cellposeweb.limits import cost_limits
from inference.engine import (
    CellTable,
    NetLattice,
    estimate_block_diameter,
    global_normalisation,
    plan_blocks,
    segment_block,
    stitch_labels,
)
from inference.failures import MAX_ERROR_LENGTH, JobCancelled, describe
from inference.loading import model_load
from inference.models import JobBlock, JobItem, JobStatus, SegmentationJob
from inference.recovery import SEGMENTATION_BLOCK, blocks_stop, enqueue_block

__all__ = ["POLL_S", "job_block_run", "tiled_block_shape", "tiled_item_run", "tiled_options"]

logger = logging.getLogger(__name__)

POLL_S = 0.2  # how often the job's worker looks at its blocks while others run them
REPORT_S = 5.0  # and reports progress at least this often even when no block finished


def _ndim(image) -> int:
    return 3 if image.is_3d else 2


def _source(image):
    """(level 0 of the image as a read-only zarr array, spatial shape, channel axis or None)."""
    source = slides.open_level(image, 0)
    ndim = _ndim(image)
    return source, tuple(int(n) for n in source.shape[:ndim]), (ndim if source.ndim > ndim else None)


def tiled_options(image, params: dict) -> dict:
    """The engine options every block of ``image`` is segmented with (``segment_block``'s
    ``**segment_options``) from the job's cleaned ``params``."""
    options = {
        "channels": tuple(params["channels"]),
        "augment": params["augment"],
        "tile_overlap": params["tile_overlap"],
        "cellprob_threshold": params["cellprob_threshold"],
        "flow_threshold": params["flow_threshold"],
        "min_size": params["min_size"],
        "limits": cost_limits(),
    }
    if image.is_3d:
        options.update(do_3d=True, anisotropy=params.get("anisotropy"))
    return options


def _block_sizes(image) -> tuple[int, int]:
    if image.is_3d:
        return settings.TILED_BLOCK_SIZE_3D, settings.TILED_BLOCK_OVERLAP_3D
    return settings.TILED_BLOCK_SIZE, settings.TILED_BLOCK_OVERLAP


def tiled_block_shape(image, *, diameter=None, diam_mean: float = 30.0, augment: bool = True,
                      tile_overlap: float = 0.5) -> tuple[int, ...]:
    """The largest block ``image`` is cut into, as one network pass reads it: its padded region,
    grown in Y and X to the whole tiles of the image's network lattice when ``diameter`` is given
    for a 2D image (as `_plan` cuts it; an estimated diameter is only known when the job runs)."""
    block_size, overlap = _block_sizes(image)
    shape = display.spatial_shape(image.shape, image.axes)
    if image.is_3d or not diameter:
        return tuple(min(n, block_size + 2 * overlap) for n in shape)
    lattice = NetLattice.for_diameter(shape, diameter, diam_mean=diam_mean, augment=augment,
                                      tile_overlap=tile_overlap)
    plan = plan_blocks(tuple(shape), block_size=block_size, overlap=overlap, lattice=lattice)
    return tuple(max(s.stop - s.start for s in axis) for axis in zip(*(block.context for block in plan)))


def _plan(item: JobItem) -> list:
    """The item's blocks; a 2D item planned with the whole image's network lattice (``"lattice"``,
    absent for volumes and for items planned before it existed) gets blocks whose context holds
    the whole tiles the network needs, as the engine's ``segment_blocks`` plans them."""
    tiled = item.tiled
    spec = tiled.get("lattice")
    lattice = NetLattice.from_spec(tiled["shape"], spec) if spec else None
    return plan_blocks(tuple(tiled["shape"]), block_size=tiled["block_size"], overlap=tiled["overlap"],
                       lattice=lattice)


def _normalisation(item: JobItem) -> tuple:
    lo, hi = item.tiled["normalisation"]
    return np.asarray(lo, np.float32), np.asarray(hi, np.float32)  # as global_normalisation gave them


def _item_plan(*, job: SegmentationJob, item: JobItem, model, progress) -> JobItem:
    """Fix the item's block plan, diameter and normalisation (once; a resumed item keeps them)
    and make its block rows. Returns the item as saved."""
    if item.tiled:
        return item
    image, params = item.image, job.params
    progress("planning", 0.0)
    source, shape, channel_axis = _source(image)
    lo, hi = global_normalisation(source, channel_axis=channel_axis)
    progress("planning", 0.3)
    diameter, diameter_source = params.get("diameter"), "given"
    if not diameter:
        diameter = estimate_block_diameter(model, source, spatial_ndim=len(shape), normalisation=(lo, hi),
                                           channels=tuple(params["channels"]))
        diameter_source = "estimated"
    block_size, overlap = _block_sizes(image)
    lattice = None if image.is_3d else model.net_lattice(shape[-2:], float(diameter), augment=params["augment"],
                                                         tile_overlap=params["tile_overlap"])
    plan = plan_blocks(shape, block_size=block_size, overlap=overlap, lattice=lattice)
    tiled = {
        "shape": list(shape), "block_size": block_size, "overlap": overlap, "n_blocks": len(plan),
        "lattice": None if lattice is None else lattice.spec(),
        "normalisation": [np.asarray(lo).tolist(), np.asarray(hi).tolist()], "diameter_source": diameter_source,
    }
    with transaction.atomic():
        locked = JobItem.objects.select_for_update().get(pk=item.pk)
        if not locked.tiled:
            JobItem.objects.filter(pk=item.pk).update(tiled=tiled, diameter=float(diameter))
            JobBlock.objects.bulk_create([JobBlock(item_id=item.pk, index=i) for i in range(len(plan))],
                                         ignore_conflicts=True)
    progress("planning", 1.0)
    return JobItem.objects.select_related("image").get(pk=item.pk)


def _blocks_dispatch(item: JobItem) -> None:
    """A message for every queued block of the item (again after a restart: a worker that finds
    a block taken does nothing)."""
    if settings.JOB_RUNNER == "thread":  # the block thread's first recovery must not fail blocks taken here
        work.pool(SEGMENTATION_BLOCK.name).start_and_wait()
    for pk in JobBlock.objects.filter(item=item, status=JobStatus.QUEUED).values_list("pk", flat=True):
        enqueue_block(pk)


def _blocks_wait(*, item: JobItem, worker: str, progress) -> None:
    """Run or wait for the item's blocks until every one has succeeded; ValueError naming the
    first failed block; JobCancelled (from ``progress``) once the job stops running."""
    total = item.tiled["n_blocks"]
    blocks = JobBlock.objects.filter(item=item)
    reported, reported_at, swept_at = None, 0.0, time.monotonic()
    while True:
        counts = dict(blocks.values_list("status").annotate(n=Count("pk")).order_by())
        if counts.get(JobStatus.CANCELLED) and not SegmentationJob.objects.filter(
                pk=item.job_id, status=JobStatus.RUNNING, worker=worker).exists():
            raise JobCancelled()
        failed = blocks.filter(status__in=(JobStatus.FAILED, JobStatus.CANCELLED)).order_by("index").first()
        if failed is not None:
            why = failed.error or "it was cancelled"
            raise ValueError(f"block {failed.index + 1} of {total} failed: {why}")
        done = counts.get(JobStatus.SUCCEEDED, 0)
        if done != reported or time.monotonic() - reported_at > REPORT_S:  # (also the job's heartbeat)
            progress("blocks", done / total)
            reported, reported_at = done, time.monotonic()
        if done == total:
            return
        queued = blocks.filter(status=JobStatus.QUEUED).order_by("index").values_list("pk", flat=True).first()
        if queued is not None:
            job_block_run(block_id=queued, worker=worker)
        elif time.monotonic() - swept_at > settings.JOB_RECOVER_INTERVAL_S:
            # The recovery sweep, from here too: a block whose worker died is re-queued (and then
            # run here) even when no other worker is free to run beat's sweep, e.g. when this
            # worker is also the one that serves the "cpu" queue.
            work.sweep(SEGMENTATION_BLOCK)
            swept_at = time.monotonic()
        else:
            time.sleep(POLL_S)


def _labels_key(job: SegmentationJob, item: JobItem) -> str:
    return f"job{job.pk}-item{item.pk}"


def _stitch(*, job: SegmentationJob, item: JobItem, progress) -> tuple[str, dict]:
    """Stitch the blocks' labels into the image's new labels group; returns (key, cell table)."""
    image, plan = item.image, _plan(item)
    stored = dict(JobBlock.objects.filter(item=item).values_list("index", "labels"))
    position = {block.index: i for i, block in enumerate(plan)}

    def read_block_labels(block):
        with default_storage.open(stored[position[block.index]], "rb") as fh:
            with np.load(BytesIO(fh.read()), allow_pickle=False) as data:
                return data["labels"]

    key = _labels_key(job, item)
    progress("stitching", 0.0)
    sink = slides.create_labels(image, key=key)
    stitch_labels(plan, read_block_labels, sink)
    progress("stitching", 0.5)
    slides.build_label_pyramid(image, key=key)
    progress("stitching", 0.8)
    labels, table = slides.open_labels(image, key=key), CellTable(ndim=_ndim(image))
    for block in plan:
        table.add(np.asarray(labels[block.core]), offset=[s.start for s in block.core])
    progress("stitching", 1.0)
    return key, table.result()


def _item_finish(*, job: SegmentationJob, item: JobItem, key: str, cells: dict, seconds: float) -> None:
    """In one transaction: the item succeeds and the labels become the image's next version (only
    while the job is still running on this worker)."""
    summary = {
        "diameter": item.diameter,
        "diameter_source": item.tiled.get("diameter_source"),
        "model_version": job.model_version_id,
        "cellprob_threshold": job.params["cellprob_threshold"],
        "flow_threshold": job.params["flow_threshold"],
        "blocks": item.tiled["n_blocks"],
    }
    seconds_blocks = JobBlock.objects.filter(item=item).values_list("seconds", flat=True)
    timings = {"blocks": round(sum(s or 0.0 for s in seconds_blocks), 4), "item": round(seconds, 4)}
    for attempt in range(3):
        annotation = annotation_prepare_tiled(image=item.image, labels_key=key, cells=cells,
                                              source=Annotation.Source.MODEL, created_by=job.owner, job=job,
                                              summary=summary)
        try:
            with transaction.atomic():
                running = SegmentationJob.objects.select_for_update().filter(
                    pk=job.pk, status=JobStatus.RUNNING, worker=job.worker)
                if not running.exists():
                    raise JobCancelled()
                changed = JobItem.objects.filter(pk=item.pk, status=JobStatus.RUNNING).update(
                    status=JobStatus.SUCCEEDED, n_masks=int(np.asarray(cells["label"]).size), timings=timings,
                    finished_at=timezone.now())
                if changed != 1:
                    raise JobCancelled()
                annotation_prepared_save(annotation)
            return
        except StaleVersionError:  # a person saved meanwhile: the version number moves on
            annotation_prepared_discard(annotation)
            if attempt == 2:
                raise
        except BaseException:
            annotation_prepared_discard(annotation)
            raise


def _blocks_files_delete(item: JobItem) -> None:
    names = list(JobBlock.objects.filter(item=item).exclude(labels="").values_list("labels", flat=True))
    transaction.on_commit(lambda: delete_stored(names))


def tiled_item_run(*, job: SegmentationJob, item: JobItem, model, progress) -> None:
    """Segment one tiled image of a running job block by block and save the result as its next
    annotation version (the item is RUNNING; it ends SUCCEEDED here). ``progress(stage,
    fraction)`` reports and raises JobCancelled once the job stops. Any other error leaves the
    item to the caller to fail; the blocks' files are deleted either way."""
    started = time.perf_counter()
    try:
        item = _item_plan(job=job, item=item, model=model, progress=progress)
        _blocks_dispatch(item)
        _blocks_wait(item=item, worker=job.worker, progress=progress)
        key, cells = _stitch(job=job, item=item, progress=progress)
        progress("saving", 0.0)
        _item_finish(job=job, item=item, key=key, cells=cells, seconds=time.perf_counter() - started)
    except Exception as exc:
        if unavailable_service(exc) is None:  # (after an outage the item resumes and needs its blocks)
            blocks_stop(item_id=item.pk)
            _blocks_files_delete(item)
        raise
    _blocks_files_delete(item)



# -- one block ------------------------------------------------------------------------------------


def _block_segment(block: JobBlock) -> np.ndarray:
    item = block.item
    job, image = item.job, item.image
    plan = _plan(item)[block.index]
    model = model_load(job.model_version)
    source, _, _ = _source(image)
    pixels = np.asarray(source[plan.context])
    return segment_block(model, pixels, plan, diameter=float(item.diameter), normalisation=_normalisation(item),
                         **tiled_options(image, job.params))


def job_block_run(*, block_id: int, worker: str = "") -> JobBlock | None:
    """Run one queued block of a tiled image: its local labels are stored and the block succeeds,
    or it fails with the reason. Returns None when the block was not queued (another worker took
    it, or it was cancelled). A block of a job that is no longer running is cancelled unrun."""
    if not work.take(JobBlock, block_id, worker=worker, stage="segmenting"):
        return None
    block = JobBlock.objects.select_related("item__image", "item__job__model_version").get(pk=block_id)
    if block.item.job.status != JobStatus.RUNNING:
        work.transition(JobBlock, block_id, from_status=JobStatus.RUNNING, to_status=JobStatus.CANCELLED,
                        where={"worker": worker}, stage="cancelled", finished_at=timezone.now())
        return JobBlock.objects.get(pk=block_id)
    started = time.perf_counter()
    with work.Heartbeat(JobBlock, block_id):
        try:
            labels = _block_segment(block)
            block.labels.save("labels.npz", ContentFile(npz_bytes(labels=np.asarray(labels, np.uint32))), save=False)
            name = block.labels.name
        except Exception as exc:
            if unavailable_service(exc) is not None:  # not the block's fault: the sweep re-queues it
                logger.warning("block %s: interrupted by an outage (%s)", block_id, exc)
                return None
            if not isinstance(exc, (ValueError, MemoryError)):
                logger.exception("block %s of job item %s failed", block.index, block.item_id)
            work.transition(JobBlock, block_id, from_status=JobStatus.RUNNING, to_status=JobStatus.FAILED,
                            where={"worker": worker}, stage="failed", error=describe(exc)[:MAX_ERROR_LENGTH],
                            finished_at=timezone.now())
            return JobBlock.objects.get(pk=block_id)
    done = work.transition(JobBlock, block_id, from_status=JobStatus.RUNNING, to_status=JobStatus.SUCCEEDED,
                           where={"worker": worker}, stage="done", progress=1.0, labels=name,
                           n_labels=int(labels.max(initial=0)), seconds=round(time.perf_counter() - started, 4),
                           finished_at=timezone.now())
    if not done:  # cancelled, or taken over by the sweep meanwhile: this result is not wanted
        delete_stored([name])
    return JobBlock.objects.get(pk=block_id)
