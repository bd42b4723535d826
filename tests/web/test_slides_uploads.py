"""Chunked uploads (POST /api/uploads/ ...): resumable, checked chunk by chunk and whole, and an
image only once complete succeeds."""
import hashlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from annotations import slides
from annotations.models import Image, Upload
from tests.web.conftest import client_for, ingested, small_image, tiff_bytes

pytestmark = pytest.mark.django_db

CHUNK = 64 * 1024


@pytest.fixture(autouse=True)
def small_chunks(settings):
    settings.TILED_MIN_PIXELS = 600 * 600
    settings.UPLOAD_CHUNK_BYTES = CHUNK


def slide_bytes() -> bytes:
    y, x = np.mgrid[:1300, :1100]
    return tiff_bytes((x * 20 + y * 10).astype(np.uint16), rowsperstrip=16)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start(api, content: bytes, name="slide.tif", **overrides):
    body = {"name": name, "size": len(content), "sha256": sha(content), **overrides}
    return api.post("/api/uploads/", body, format="json")


def put(api, upload_id, content: bytes, first: int, last: int | None = None, chunk_sha: str | None = "auto"):
    last = min(first + CHUNK, len(content)) - 1 if last is None else last
    chunk = content[first : last + 1]
    headers = {"HTTP_CONTENT_RANGE": f"bytes {first}-{last}/{len(content)}"}
    if chunk_sha is not None:
        headers["HTTP_X_CHUNK_SHA256"] = sha(chunk) if chunk_sha == "auto" else chunk_sha
    return api.put(f"/api/uploads/{upload_id}/", chunk, content_type="application/octet-stream", **headers)


def send_all(api, upload_id, content: bytes, first: int = 0):
    offset = first
    while offset < len(content):
        response = put(api, upload_id, content, offset)
        assert response.status_code == 200, response.content
        offset = response.json()["offset"]
    return offset


def test_a_large_file_sent_in_chunks_becomes_a_tiled_image_in_the_background(
        api, django_capture_on_commit_callbacks, settings):
    content = slide_bytes()
    started = start(api, content)
    assert started.status_code == 201
    body = started.json()
    assert body["offset"] == 0 and body["chunk_size"] == CHUNK and body["status"] == "receiving"
    assert send_all(api, body["id"], content) == len(content)
    with django_capture_on_commit_callbacks(execute=True):
        image_json = ingested(api, api.post(f"/api/uploads/{body['id']}/complete/", {}, format="json"))
    image = Image.objects.get(pk=image_json["id"])
    assert image.tiled and image.sha256 == sha(content) and image.size_bytes == len(content)
    assert slides.open_level(image).shape == (1300, 1100)
    assert Upload.objects.get().image_id == image.pk  # kept a while to tell the client; its chunks are gone
    assert not any(p.is_file() for p in (Path(settings.MEDIA_ROOT) / "uploads").rglob("*"))


def test_a_small_image_sent_in_chunks_takes_the_small_image_path(api):
    content = tiff_bytes(small_image())
    upload_id = start(api, content).json()["id"]
    send_all(api, upload_id, content)
    done = api.post(f"/api/uploads/{upload_id}/complete/", {}, format="json")
    assert done.status_code == 201 and done.json()["tiled"] is False and done.json()["shape"] == [64, 64]


def test_an_interrupted_upload_resumes_from_the_offset_it_reports(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    put(api, upload_id, content, 0)
    put(api, upload_id, content, CHUNK)
    # the connection drops; the client asks where to go on
    status = api.get(f"/api/uploads/{upload_id}/")
    assert status.json()["offset"] == 2 * CHUNK and status["Upload-Offset"] == str(2 * CHUNK)
    assert api.head(f"/api/uploads/{upload_id}/")["Upload-Offset"] == str(2 * CHUNK)
    send_all(api, upload_id, content, first=2 * CHUNK)
    image_json = ingested(api, api.post(f"/api/uploads/{upload_id}/complete/", {}, format="json"))
    assert Image.objects.get(pk=image_json["id"]).sha256 == sha(content)


def test_a_chunk_at_the_wrong_offset_is_refused_with_the_offset_to_resume_from(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    put(api, upload_id, content, 0)
    again = put(api, upload_id, content, 0)  # sent twice
    assert again.status_code == 409 and str(CHUNK) in again.json()["detail"]
    ahead = put(api, upload_id, content, 3 * CHUNK)
    assert ahead.status_code == 409
    assert api.get(f"/api/uploads/{upload_id}/").json()["offset"] == CHUNK


def test_a_chunk_whose_sha256_differs_is_refused_and_not_kept(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    response = put(api, upload_id, content, 0, chunk_sha="0" * 64)
    assert response.status_code == 400 and "SHA-256" in response.json()["detail"]
    assert api.get(f"/api/uploads/{upload_id}/").json()["offset"] == 0


def test_a_chunk_larger_than_the_chunk_size_is_refused(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    assert put(api, upload_id, content, 0, last=CHUNK).status_code == 413


def test_a_body_shorter_than_its_content_range_is_refused(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    response = api.put(f"/api/uploads/{upload_id}/", content[:100], content_type="application/octet-stream",
                       HTTP_CONTENT_RANGE=f"bytes 0-199/{len(content)}")
    assert response.status_code == 400
    assert put(api, upload_id, content, 0, chunk_sha=None).status_code == 200


def test_a_missing_or_malformed_content_range_is_refused(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    assert api.put(f"/api/uploads/{upload_id}/", b"x", content_type="application/octet-stream").status_code == 400
    assert put(api, upload_id, content, 0, last=len(content) + 5).status_code == 400


def test_complete_with_a_wrong_sha256_registers_nothing(api, settings, django_capture_on_commit_callbacks):
    content = slide_bytes()
    upload_id = start(api, content, sha256=sha(b"something else")).json()["id"]
    send_all(api, upload_id, content)
    with django_capture_on_commit_callbacks(execute=True):
        done = api.post(f"/api/uploads/{upload_id}/complete/", {}, format="json")
    assert done.status_code == 400 and "SHA-256" in done.json()["detail"]
    assert not Image.objects.exists() and not Upload.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_complete_before_every_byte_arrived_is_refused_and_the_upload_stays(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    put(api, upload_id, content, 0)
    done = api.post(f"/api/uploads/{upload_id}/complete/", {}, format="json")
    assert done.status_code == 409 and not Image.objects.exists()
    assert api.get(f"/api/uploads/{upload_id}/").json()["offset"] == CHUNK


def test_a_file_that_is_not_an_image_is_refused_at_complete(api):
    content = b"not an image at all" * 100
    upload_id = start(api, content, name="notes.txt").json()["id"]
    send_all(api, upload_id, content)
    done = api.post(f"/api/uploads/{upload_id}/complete/", {}, format="json")
    assert done.status_code == 400 and not Image.objects.exists()


def test_another_user_cannot_see_or_send_to_an_upload(api, other_user):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    stranger = client_for(other_user)
    assert stranger.get(f"/api/uploads/{upload_id}/").status_code == 404
    assert put(stranger, upload_id, content, 0).status_code == 404
    assert stranger.post(f"/api/uploads/{upload_id}/complete/", {}, format="json").status_code == 404
    assert stranger.delete(f"/api/uploads/{upload_id}/").status_code == 404
    assert client_for().get(f"/api/uploads/{upload_id}/").status_code in (401, 403)


def test_an_upload_larger_than_the_limit_or_without_a_sha256_is_refused(api, settings):
    settings.CHUNKED_UPLOAD_MAX_BYTES = 1000
    assert start(api, b"x" * 1001).status_code == 413
    assert api.post("/api/uploads/", {"name": "a", "size": 10, "sha256": "z" * 64}, format="json").status_code == 400


def test_stale_uploads_are_deleted_with_their_chunks(api, settings, django_capture_on_commit_callbacks):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    put(api, upload_id, content, 0)
    long_ago = timezone.now() - timedelta(seconds=settings.UPLOAD_STALE_S + 1)
    Upload.objects.filter(pk=upload_id).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        start(api, b"another file")  # starting an upload sweeps stale ones
    assert not Upload.objects.filter(pk=upload_id).exists()
    assert not (Path(settings.MEDIA_ROOT) / f"uploads/{upload_id}").exists() or not any(
        (Path(settings.MEDIA_ROOT) / f"uploads/{upload_id}").iterdir())


def test_an_abandoned_upload_can_be_deleted(api):
    content = slide_bytes()
    upload_id = start(api, content).json()["id"]
    assert api.delete(f"/api/uploads/{upload_id}/").status_code == 204
    assert api.get(f"/api/uploads/{upload_id}/").status_code == 404


def test_a_user_with_too_many_unfinished_uploads_must_finish_or_delete_one_first(api, other_user, settings):
    settings.UPLOAD_MAX_OPEN_PER_USER = 2
    first = start(api, b"one").json()["id"]
    start(api, b"two")
    refused = start(api, b"three")
    assert refused.status_code == 409 and "unfinished uploads" in refused.json()["detail"]
    assert start(client_for(other_user), b"theirs").status_code == 201
    api.delete(f"/api/uploads/{first}/")
    assert start(api, b"three").status_code == 201
