"""Downloads: streamed through the web process, or, for large files on S3, a redirect to a
presigned URL so the bytes go straight from the store to the browser.

A presigned URL is issued only after the view has checked the user may read the file, names one
object, and expires after S3_PRESIGN_EXPIRY seconds: stored files have no public URL.
"""
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect

DOWNLOADS_PREFIX = "downloads"  # made-on-request files; expire them with a bucket lifecycle rule


def _is_s3(storage) -> bool:
    return hasattr(storage, "bucket_name") and hasattr(storage, "bucket")


def _content_disposition(filename: str) -> str:
    from django.utils.http import content_disposition_header

    return content_disposition_header(True, filename)


def presigned_url(name: str, *, filename: str, content_type: str, storage=None) -> str:
    """A GET URL for the stored object ``name`` that expires after S3_PRESIGN_EXPIRY seconds and
    makes the browser save it as ``filename``. Signed for S3_PUBLIC_ENDPOINT_URL when set (the
    address browsers reach, which may differ from the one the servers use)."""
    storage = storage or default_storage
    params = {"ResponseContentDisposition": _content_disposition(filename), "ResponseContentType": content_type}
    if not settings.S3_PUBLIC_ENDPOINT_URL:
        return storage.url(name, parameters=params)
    import boto3
    from botocore.config import Config
    from storages.utils import clean_name

    client = boto3.client(
        "s3",
        endpoint_url=settings.S3_PUBLIC_ENDPOINT_URL,
        region_name=storage.region_name,
        aws_access_key_id=storage.access_key,
        aws_secret_access_key=storage.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": storage.addressing_style or "auto"}),
    )
    return client.generate_presigned_url(
        "get_object",
        Params={"Bucket": storage.bucket_name, "Key": storage._normalize_name(clean_name(name)), **params},
        ExpiresIn=storage.querystring_expire,
    )


def file_download(path: Path, *, filename: str, content_type: str, storage=None):
    """The response for a file made for this request (a zip, an export) at ``path``.

    Streamed when small or on local storage. On S3, a file of at least S3_PRESIGN_MIN_BYTES is
    stored under ``downloads/`` and the response redirects (302) to its presigned URL. The file at
    ``path`` may be deleted once this returns (POSIX keeps an open file readable)."""
    storage = storage or default_storage
    size = Path(path).stat().st_size
    if _is_s3(storage) and size >= settings.S3_PRESIGN_MIN_BYTES:
        with open(path, "rb") as fh:
            name = storage.save(f"{DOWNLOADS_PREFIX}/{uuid.uuid4().hex}/{Path(filename).name}", File(fh))
        response = HttpResponseRedirect(presigned_url(name, filename=filename, content_type=content_type, storage=storage))
        response["Cache-Control"] = "private, no-store"
        return response
    return FileResponse(open(path, "rb"), as_attachment=True, filename=filename, content_type=content_type)
