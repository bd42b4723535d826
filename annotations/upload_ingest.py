"""A received file becomes an image: at once when it is small, as background work when it is tiled.

Building a tiled image's pyramid can take longer than a request may (a 40k x 40k slide runs for
minutes), so ``POST /api/uploads/<id>/complete/`` and ``POST /api/images/`` hand a tiled file to a
worker and answer 202 with its `Upload` row to poll. The ingest is background work on the one
lifecycle (cellposeweb.work, kind ``INGEST``): the row's ``status`` goes queued -> running ->
succeeded (``image`` set) or failed (``error`` says why); a worker heartbeats while it builds, and
the recovery sweep re-queues the ingest of a worker that died (the next worker starts it again,
up to JOB_MAX_ATTEMPTS starts). The file waits in storage as the upload's chunks (a file sent whole
is stored as one chunk), so any worker process can read it; they are deleted when the ingest ends.

Nothing is half-registered: the image row, its files and pixels are stored in one transaction
that also marks the upload succeeded (annotations.ingest ``then``); a failure or a lost race keeps
none of them. A small file keeps the synchronous path (the image, 201).
"""
import logging
import tempfile
import uuid
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotations.ingest import image_ingest, image_ingest_tiled, is_tiled_file
from annotations.models import Image, Upload
from annotations.services import clean_filename, uploaded_file_receive
from annotations.uploads import upload_assemble, upload_chunks_delete, upload_delete
from cellposeweb import work
from cellposeweb.exceptions import ApplicationError, ConflictError
from cellposeweb.work import WorkStatus

__all__ = ["INGEST", "image_upload", "upload_complete", "upload_data", "upload_ingest_run"]

logger = logging.getLogger(__name__)

SERVER_ERROR = "The image could not be ingested because of an error on the server; upload it again."


def _chunks_gone(pk, *args) -> None:
    upload_chunks_delete(upload_id=pk)


INGEST = work.WorkKind(
    name="ingest",
    model=Upload,
    task="annotations.upload_ingest_run",
    queue="cpu",
    what="image ingest",
    advice="the image may be too large for the worker's memory or disk; ask an administrator.",
    by_id=True,
    requeue_fields=lambda row: {"progress": 0.0},  # the pyramid is built again from the start
    on_failed=_chunks_gone,
    interrupted="The server stopped while this image was being ingested; upload it again.",
    worker_prefix="thread-ingest-",
)

PUBLIC_STATUS = {"": "receiving", WorkStatus.QUEUED: "ingesting", WorkStatus.RUNNING: "ingesting",
                 WorkStatus.SUCCEEDED: "done", WorkStatus.FAILED: "failed", WorkStatus.CANCELLED: "cancelled"}


def upload_data(upload: Upload) -> dict:
    """What a client polls: ``status`` is "receiving" (chunks arriving), "ingesting" (``progress``:
    share of the pyramid's bands and levels written), "done" (``image``: its id), "failed"
    (``error``: why) or "cancelled" (DELETE while ingesting; nothing kept)."""
    return {"id": str(upload.pk), "name": upload.name, "size": upload.size, "offset": upload.offset,
            "status": PUBLIC_STATUS[upload.status], "progress": round(upload.progress, 4),
            "image": upload.image_id, "error": upload.error, "url": f"/api/uploads/{upload.pk}/"}


def _queue(upload_id) -> None:
    with transaction.atomic():
        Upload.objects.filter(pk=upload_id).update(status=WorkStatus.QUEUED, stage="queued", progress=0.0,
                                                   updated_at=timezone.now())
        work.enqueue(INGEST, upload_id)


def upload_complete(*, upload: Upload, axes: str | None = None) -> Image | Upload:
    """Check the whole file against the declared SHA-256, then register a small image now (it is
    returned; the upload is gone) or queue a tiled one's ingest (the upload is returned, status
    queued). A file whose SHA-256 differs, or a small file that is not an image, is refused (400)
    and its upload deleted. Until every byte has arrived it is refused (409) and stays open."""
    if upload.status:
        raise ConflictError(f"This upload was completed already; GET /api/uploads/{upload.pk}/ tells how it went.")
    if upload.offset != upload.size:
        raise ConflictError(f"Only {upload.offset} of {upload.size} bytes have arrived; send the rest first.")
    if Upload.objects.filter(pk=upload.pk, completing=False).update(completing=True) != 1:
        raise ConflictError("This upload is already being completed.")
    finished = queued = False
    try:
        with tempfile.TemporaryDirectory(prefix="cellposeweb-upload-") as tmp:
            path = Path(tmp) / "upload"
            sha256 = upload_assemble(upload=upload, path=path)
            if sha256 != upload.sha256:
                finished = True
                raise ApplicationError(f"The file received has SHA-256 {sha256}, not the {upload.sha256} "
                                       "declared; nothing was stored. Start the upload again.")
            if is_tiled_file(path):
                _queue(upload.pk)
                queued = True
                upload.refresh_from_db()
                return upload
            try:
                image = image_ingest(owner=upload.owner, name=upload.name, path=path, sha256=sha256,
                                     n_bytes=upload.size, axes=axes)
            except ApplicationError:
                finished = True
                raise
            finished = True
            return image
    finally:
        if finished:
            upload_delete(upload=upload)
        elif not queued:  # an outage (storage, database): let the client call complete again
            Upload.objects.filter(pk=upload.pk).update(completing=False)


def image_upload(*, owner, uploaded_file, axes: str | None = None) -> Image | Upload:
    """``POST /api/images/``: register a small image now (returned), or store a tiled one's file as
    a one-chunk upload and queue its ingest (the `Upload` is returned). Refused as
    annotations.services.image_create refuses."""
    name = clean_filename(uploaded_file.name)
    with tempfile.TemporaryDirectory(prefix="cellposeweb-upload-") as tmpdir:
        path = Path(tmpdir) / "upload"
        sha256, n_bytes = uploaded_file_receive(uploaded_file, name=name, path=path)
        if not is_tiled_file(path):
            return image_ingest(owner=owner, name=name, path=path, sha256=sha256, n_bytes=n_bytes, axes=axes)
        upload_id = uuid.uuid4()
        with open(path, "rb") as fh:
            part = default_storage.save(f"uploads/{upload_id}/{0:016d}-{uuid.uuid4().hex[:8]}", File(fh))
    try:
        upload = Upload(id=upload_id, owner=owner, name=name, size=n_bytes, sha256=sha256, offset=n_bytes,
                        parts=[part], completing=True)
        upload.full_clean()
        upload.save()
    except BaseException:
        default_storage.delete(part)
        raise
    _queue(upload.pk)
    upload.refresh_from_db()
    return upload


def _fail(upload_id, *, worker: str, attempts: int, error: str) -> None:
    with transaction.atomic():
        if work.transition(Upload, upload_id, from_status=WorkStatus.RUNNING, to_status=WorkStatus.FAILED,
                           where={"worker": worker, "attempts": attempts}, stage="failed", error=error,
                           finished_at=timezone.now(), updated_at=timezone.now()):
            upload_chunks_delete(upload_id=upload_id)


class _Lost(Exception):
    """The ingest is no longer this worker's: the recovery sweep took it (the worker looked dead)
    or its owner cancelled it (upload_delete)."""


def upload_ingest_run(*, upload_id, worker: str) -> None:
    """Run the ingest of upload ``upload_id`` if it is still queued (a worker's message; running one
    twice is harmless: the ingest is taken by a compare-and-set)."""
    if not work.take(Upload, upload_id, worker=worker, stage="building the pyramid", progress=0.0):
        return
    upload = Upload.objects.select_related("owner").get(pk=upload_id)
    mine = {"worker": upload.worker, "attempts": upload.attempts}
    shown = [-1]

    def progress(done: int, total: int) -> None:
        share = round(done / max(total, 1), 2)
        if share != shown[0]:
            shown[0] = share
            if not Upload.objects.filter(pk=upload_id, status=WorkStatus.RUNNING, **mine).update(progress=share):
                raise _Lost()  # stop building now: nothing of it would be kept

    def done(image: Image) -> None:
        if not work.transition(Upload, upload_id, from_status=WorkStatus.RUNNING, to_status=WorkStatus.SUCCEEDED,
                               where=mine, image=image, stage="done", progress=1.0,
                               finished_at=timezone.now(), updated_at=timezone.now()):
            raise _Lost()
        upload_chunks_delete(upload_id=upload_id)

    with work.Heartbeat(Upload, upload_id):
        try:
            with tempfile.TemporaryDirectory(prefix="cellposeweb-ingest-") as tmp:
                path = Path(tmp) / "upload"
                sha256 = upload_assemble(upload=upload, path=path)
                if sha256 != upload.sha256:
                    raise ApplicationError(f"The stored file has SHA-256 {sha256}, not the {upload.sha256} "
                                           "received; upload it again.")
                image_ingest_tiled(owner=upload.owner, name=upload.name, path=path, sha256=sha256,
                                   n_bytes=upload.size, progress=progress, then=done)
        except _Lost:
            if Upload.objects.filter(pk=upload_id, status=WorkStatus.CANCELLED).exists():
                logger.info("image ingest %s: cancelled by its owner; nothing kept", upload_id,
                            extra={"work_id": str(upload_id)})
                upload_chunks_delete(upload_id=upload_id)
            else:
                logger.warning("image ingest %s: taken over by the recovery sweep; this worker's result dropped",
                               upload_id, extra={"work_id": str(upload_id)})
        except ApplicationError as exc:
            _fail(upload_id, **mine, error=str(exc))
        except Exception:
            logger.exception("image ingest %s failed", upload_id, extra={"work_id": str(upload_id)})
            _fail(upload_id, **mine, error=SERVER_ERROR)
