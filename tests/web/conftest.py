"""Fixtures for the web tests: users in every role, API clients, a tiny real model, images.

Jobs do not run unless a test asks (JOB_RUNNER=off); the lifecycle tests switch the real
in-process worker thread on. Media files go to a per-test temporary folder.
"""
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

DATA = Path(__file__).resolve().parent.parent / "data"
PASSWORD = "a-long-test-password-42"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """A file-backed SQLite test database, so the worker thread and websocket consumers (their own
    connections) see committed rows without shared-cache table locks."""
    from django.conf import settings

    test = settings.DATABASES["default"].setdefault("TEST", {})
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        test["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session", autouse=True)
def collected_static(static_root):
    """Pages render only once collectstatic has written the manifest of hashed names."""
    return static_root


@pytest.fixture(autouse=True)
def web_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.JOB_RUNNER = "off"
    settings.THROTTLE_RATES = {"uploads": None, "jobs": None, "auth": None}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    from inference.loading import model_cache_clear

    model_cache_clear()
    yield settings
    cache.clear()


# -- users and clients --------------------------------------------------------------------------


def make_user(django_user_model, username, **extra):
    return django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def owner(django_user_model):
    return make_user(django_user_model, "olivia")


@pytest.fixture
def other_user(django_user_model):
    return make_user(django_user_model, "oscar")


@pytest.fixture
def curator(django_user_model):
    user = make_user(django_user_model, "cora")
    user.groups.add(Group.objects.get_or_create(name="curator")[0])
    return user


@pytest.fixture
def admin_user(django_user_model):
    return make_user(django_user_model, "ada", is_staff=True, is_superuser=True)


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api(owner):
    """An API client signed in as the owner."""
    return client_for(owner)


# -- files --------------------------------------------------------------------------------------


def tiff_bytes(array, **kwargs) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **kwargs)
    return buf.getvalue()


def upload(name: str, content: bytes, content_type="application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def ingested(api, response) -> dict:
    """Follow the 202 of a tiled image's upload as a client does: its ingest runs (here in the
    test's thread, since JOB_RUNNER is off), then its URL says done with the image. Returns the
    image's JSON (GET /api/images/<id>/)."""
    from annotations.upload_ingest import upload_ingest_run

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "ingesting" and response["Location"] == body["url"], body
    upload_ingest_run(upload_id=body["id"], worker="test-worker")
    polled = api.get(body["url"]).json()
    assert polled["status"] == "done" and polled["progress"] == 1.0, polled
    image = api.get(f"/api/images/{polled['image']}/")
    assert image.status_code == 200, image.content
    return image.json()


def stored_names(prefix: str) -> list[str]:
    """Every file name under ``prefix`` in the default storage (local disk here, S3 in the
    integration tier), found through the storage API rather than the file system."""
    from django.core.files.storage import default_storage

    from cellposeweb.orphans import stored_names as walk

    return list(walk(default_storage, prefix.rstrip("/")))


def data_file(name: str) -> SimpleUploadedFile:
    return upload(name, (DATA / name).read_bytes())


def small_image(size=64) -> np.ndarray:
    """A crop of the real 2D test image (uint16, (size, size))."""
    return tifffile.imread(DATA / "img2d.tif")[:size, :size]


@pytest.fixture
def make_image(owner):
    """Create an image through the upload service: make_image(name=..., content=..., owner=...)."""
    from annotations.services import image_create

    def make(name="cells.tif", content=None, user=None):
        if content is None:
            content = tiff_bytes(small_image())
        return image_create(owner=user or owner, uploaded_file=upload(name, content))

    return make


@pytest.fixture
def image(make_image):
    return make_image()


# -- models -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A real engine model file with tiny random weights (the real segmentation code path)."""
    import torch

    from inference.engine.model import CellposeModel
    from inference.engine.net import CellposeNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    CellposeModel([CellposeNet(nbase=(2, 8, 16, 32, 64))], name="tiny").save(path)
    return path


@pytest.fixture
def model_version(db, tiny_model_path):
    from inference.model_versions import model_version_create

    return model_version_create(name="tiny", file_path=tiny_model_path, make_current=True)


# -- a segmented image without running the network ------------------------------------------------


def synthetic_cells(size=64, seed=3):
    """(image float32 (2, size, size), masks int32 (size, size)) from the engine's generator."""
    from inference.engine.synth import synthesize

    return synthesize(seed, shape=(size, size), style=None, diameter=14)


def perfect_flows(masks):
    """(dP, cellprob) that a perfect network would output for ``masks``."""
    from inference.engine.flows import masks_to_flows

    dP = 5.0 * masks_to_flows(masks)
    cellprob = np.where(masks > 0, 4.0, -4.0).astype(np.float32)
    return dP.astype(np.float32), cellprob


@pytest.fixture
def segmented_image(owner, model_version, make_image):
    """An image with a finished job, stored flows and masks (version 1), as a run would leave it."""
    from django.utils import timezone

    from annotations.files import npz_content
    from annotations.services import annotation_create
    from inference.models import JobItem, SegmentationJob
    from inference.options import clean_segmentation_options

    picture, masks = synthetic_cells()
    image = make_image(name="synthetic cells.tif", content=tiff_bytes(picture[0]))
    dP, cellprob = perfect_flows(masks)
    params = clean_segmentation_options({})
    params.pop("model_version")
    job = SegmentationJob.objects.create(
        owner=owner, model_version=model_version, params=params, status="succeeded", progress=1.0,
        started_at=timezone.now(), finished_at=timezone.now(),
    )
    item = JobItem(job=job, image=image, status="succeeded", diameter=14.0, n_masks=int(masks.max()),
                   finished_at=timezone.now())
    item.flows.save("flows.npz", npz_content(dP=dP, cellprob=cellprob, styles=np.zeros(64, np.float32),
                                             niter=np.int32(200)), save=False)
    item.save()
    annotation_create(image=image, masks=masks, source="model", created_by=owner, job=job)
    image.true_masks = masks
    image.job = job
    return image


@pytest.fixture
def storage_writes(monkeypatch):
    """[(name, in a transaction?)] of every file the default storage saves during the test."""
    from django.core.files.storage import storages
    from django.db import connection

    writes = []
    real = type(storages["default"])._save

    def spy(self, name, content):
        writes.append((name, connection.in_atomic_block))
        return real(self, name, content)

    monkeypatch.setattr(type(storages["default"]), "_save", spy)
    return writes
