"""Chunked uploads: a large file sent in pieces that can resume after an interruption, and that
becomes an image only when ``complete`` (annotations.upload_ingest) has checked it whole. Services
for the `Upload` rows (keyword-only; state moves by compare-and-set).

Chunks are stored files (``uploads/<id>/<offset>-<random>``), so any web process, on local disk
or S3, can take the next one. An upload untouched for ``UPLOAD_STALE_S`` is deleted with its
chunks (swept whenever an upload starts, and by ``manage.py prune_orphan_files``'s caller); one
whose tiled image is being ingested is kept until the ingest ends. Deleting an upload while its
image is being ingested cancels the ingest (`upload_delete`).
"""
import hashlib
import re
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from annotations.files import delete_stored
from annotations.models import Upload
from annotations.services import clean_filename
from cellposeweb.exceptions import ApplicationError, ConflictError, PayloadTooLargeError
from cellposeweb.work import ACTIVE_STATUSES, WorkStatus, transition

__all__ = ["chunk_size", "parse_content_range", "upload_append", "upload_assemble", "upload_chunks_delete",
           "upload_delete", "upload_delete_stale", "upload_start"]

SHA256 = re.compile(r"[0-9a-f]{64}")
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def chunk_size() -> int:
    """The largest chunk accepted: UPLOAD_CHUNK_BYTES, within the request body limit."""
    return int(min(settings.UPLOAD_CHUNK_BYTES, settings.REQUEST_MAX_BYTES))


def _size_text(n: int) -> str:
    return filesizeformat(n).replace("\xa0", " ")


def parse_content_range(value: str) -> tuple[int, int, int]:
    """(first, last, total) of a ``Content-Range: bytes first-last/total`` header."""
    match = CONTENT_RANGE.fullmatch((value or "").strip())
    if not match:
        raise ApplicationError("Content-Range must be 'bytes <first>-<last>/<total>', e.g. 'bytes 0-1048575/5000000'.")
    first, last, total = (int(g) for g in match.groups())
    if last < first or last >= total:
        raise ApplicationError(f"Content-Range {value!r} is not a range inside the file.")
    return first, last, total


def upload_delete_stale(*, now=None) -> int:
    """Delete uploads untouched for UPLOAD_STALE_S, with their chunks; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=int(settings.UPLOAD_STALE_S))
    stale = list(Upload.objects.filter(updated_at__lt=cutoff).exclude(status__in=ACTIVE_STATUSES))
    for upload in stale:
        upload_delete(upload=upload)
    return len(stale)


def upload_start(*, owner, name: str, size: int, sha256: str) -> Upload:
    """Open an upload of a ``size``-byte file whose SHA-256 is ``sha256`` (lowercase hex).
    Refused (409) while ``owner`` has UPLOAD_MAX_OPEN_PER_USER unfinished uploads."""
    upload_delete_stale()
    sha256 = str(sha256 or "").strip().lower()
    if not SHA256.fullmatch(sha256):
        raise ApplicationError("sha256 must be the file's SHA-256 as 64 hexadecimal digits.")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ApplicationError("size must be the file's size in bytes, a positive integer.")
    if size > settings.CHUNKED_UPLOAD_MAX_BYTES:
        raise PayloadTooLargeError(f"The file is larger than the upload limit of "
                                   f"{_size_text(settings.CHUNKED_UPLOAD_MAX_BYTES)}.")
    finished = (WorkStatus.SUCCEEDED, WorkStatus.FAILED)  # kept a while only to tell how the ingest ended
    n_open = Upload.objects.filter(owner=owner).exclude(status__in=finished).count()
    if n_open >= settings.UPLOAD_MAX_OPEN_PER_USER:
        raise ConflictError(f"You have {n_open} unfinished uploads, the most one person may have; complete or "
                            "delete one (DELETE /api/uploads/<id>/) first.")
    upload = Upload(owner=owner, name=clean_filename(name), size=size, sha256=sha256)
    upload.full_clean()
    upload.save()
    return upload


def upload_append(
    *, upload: Upload, first: int, last: int, total: int, body, chunk_sha256: str | None = None
) -> Upload:
    """Append the chunk ``body`` (a file object holding bytes first..last of the file) at the
    upload's current offset; returns the upload with its new offset.

    Refused: a chunk that does not start at the offset (409, with the offset to resume from), a
    wrong total, length or ``chunk_sha256`` (400), a chunk larger than `chunk_size` (413).
    """
    if total != upload.size:
        raise ApplicationError(f"Content-Range names a file of {total} bytes; this upload is of {upload.size}.")
    if first != upload.offset:
        raise ConflictError(f"This upload continues at byte {upload.offset}, not {first}; send that chunk next "
                            f"(GET /api/uploads/{upload.pk}/ tells the offset).")
    length = last - first + 1
    if length > chunk_size():
        raise PayloadTooLargeError(f"A chunk may be at most {_size_text(chunk_size())}.")
    digest, received = hashlib.sha256(), 0
    body.seek(0)
    for block in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(block)
        received += len(block)
    if received != length:
        raise ApplicationError(f"Content-Range announces {length} bytes but the body has {received}.")
    if chunk_sha256 is not None and digest.hexdigest() != chunk_sha256.strip().lower():
        raise ApplicationError("The chunk's SHA-256 does not match X-Chunk-Sha256; send it again.")
    body.seek(0)
    name = default_storage.save(f"uploads/{upload.pk}/{first:016d}-{uuid.uuid4().hex[:8]}", File(body))
    moved = Upload.objects.filter(pk=upload.pk, offset=first, completing=False).update(
        offset=first + length, parts=[*upload.parts, name], updated_at=timezone.now())
    if moved != 1:  # another request appended here first, or complete began
        delete_stored([name])
        upload.refresh_from_db()
        raise ConflictError(f"This upload continues at byte {upload.offset}, not {first}.")
    upload.refresh_from_db()
    return upload


def upload_assemble(*, upload: Upload, path: Path) -> str:
    """Write the upload's chunks in order to ``path``; returns the SHA-256 of the whole."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for name in upload.parts:
            with default_storage.open(name, "rb") as part:
                for block in iter(lambda: part.read(1024 * 1024), b""):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _stored_chunks(upload_id) -> list[str]:
    """Every file under the upload's folder (accepted chunks and any left by a failed request)."""
    folder = f"uploads/{upload_id}"
    try:
        return [f"{folder}/{name}" for name in default_storage.listdir(folder)[1]]
    except FileNotFoundError:
        return []


def upload_chunks_delete(*, upload_id) -> None:
    """Delete the upload's stored chunks once the current transaction commits (the row stays)."""
    transaction.on_commit(lambda: delete_stored(_stored_chunks(upload_id)))


CANCELLED = "Cancelled before the image was stored; nothing was kept."


@transaction.atomic
def upload_delete(*, upload: Upload) -> None:
    """Delete an upload and (after commit) its chunks.

    An upload whose image is being ingested is cancelled instead: the row moves to ``cancelled``
    (by compare-and-set, so an ingest that has just finished keeps its image) and stays to tell the
    poller so, until the stale sweep removes it. A queued ingest's chunks go now; a running one
    stops at its next step, keeps nothing and deletes the chunks itself (upload_ingest)."""
    upload_id = upload.pk
    now = timezone.now()
    for status in ACTIVE_STATUSES:
        if transition(Upload, upload_id, from_status=status, to_status=WorkStatus.CANCELLED, stage="cancelled",
                      error=CANCELLED, finished_at=now, updated_at=now):
            if status == WorkStatus.QUEUED:
                upload_chunks_delete(upload_id=upload_id)
            return
    Upload.objects.filter(pk=upload_id).delete()
    transaction.on_commit(lambda: delete_stored(_stored_chunks(upload_id)))
