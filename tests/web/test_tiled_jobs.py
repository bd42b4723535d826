"""Segmentation jobs of tiled images run block by block on the shared work lifecycle
(inference.tiled_jobs): in the embedded pools, with progress, cancel and recovery, stitched into
OME-Zarr labels equal to the engine's segment_blocks, and exported as streams.

TILED_MIN_PIXELS is overridden small, so a 256 x 256 crop of the real test image is tiled, cut
into 2 x 2 blocks of 128 with an overlap of 32."""
import csv
import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely.geometry
import tifffile
import zarr
from django.utils import timezone

from annotations import slides
from annotations.models import Image
from annotations.sources import open_source
from cellposeweb import work
from cellposeweb.exceptions import ApplicationError
from inference import jobs, job_run, tiled_jobs
from inference.engine import segment_blocks
from inference.engine.model import WEIGHTS_DIR
from inference.models import JobBlock, JobItem, SegmentationJob
from inference.recovery import SEGMENTATION_BLOCK
from inference.jobs import segmentation_job_create
from inference.model_versions import model_version_create
from tests.web.conftest import DATA

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_S = 300
OPTIONS = {"diameter": 24, "augment": False}


@pytest.fixture(autouse=True)
def tiled_settings(settings):
    settings.TILED_MIN_PIXELS = 200 * 200
    settings.TILED_BLOCK_SIZE = 128
    settings.TILED_BLOCK_OVERLAP = 32
    return settings


@pytest.fixture
def default_model(db):
    """The real default model (the tiny random test model finds no cells)."""
    if not (WEIGHTS_DIR / "default.pt").exists():
        pytest.skip("the default model is not built")
    return model_version_create(name="default", file_path=WEIGHTS_DIR / "default.pt", make_current=True)


def tiled_image(owner, array: np.ndarray, tmp_path: Path, name="slide.tif") -> Image:
    """An image stored tiled (OME-Zarr pixels) as the ingest stores large ones."""
    path = tmp_path / name
    tifffile.imwrite(path, array)
    with open_source(path, max_pixels=2**32) as source:
        image = Image.objects.create(owner=owner, name=name, file=f"images/x/{name}", shape=list(source.shape),
                                     dtype=str(source.dtype), axes=source.axes, size_bytes=path.stat().st_size,
                                     sha256="0" * 64, tiled=True, is_3d="Z" in source.axes,
                                     n_channels=dict(zip(source.axes, source.shape)).get("C", 1))
        image.display = slides.write_pixels(image, source)
    image.shape = list(image.display["level_shapes"][0])  # in the axes' layout, as the ingest stores it
    image.save()
    return image


@pytest.fixture
def slide(owner, tmp_path):
    return tiled_image(owner, tifffile.imread(DATA / "img2d.tif")[:256, :256], tmp_path)


@pytest.fixture
def pools(settings):
    """The embedded runner: the segmentation pool runs the job, the block pool blocks."""
    settings.JOB_RUNNER = "thread"
    for pool in (work.pool("segmentation"), work.pool(SEGMENTATION_BLOCK.name)):
        assert pool.start_and_wait()  # as the server's first request does (work.start_pools)
    yield work.pool("segmentation"), work.pool(SEGMENTATION_BLOCK.name)
    wait_until(lambda: all(p.is_idle() for p in (work.pool("segmentation"), work.pool(SEGMENTATION_BLOCK.name))))


def wait_until(condition, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.02)


def finished(job_id):
    return lambda: SegmentationJob.objects.get(pk=job_id).status in ("succeeded", "failed", "cancelled")


def run_job(owner, image, options=OPTIONS) -> SegmentationJob:
    job = segmentation_job_create(owner=owner, images=[image], options=options)
    wait_until(finished(job.pk))
    return SegmentationJob.objects.get(pk=job.pk)


# -- the run ------------------------------------------------------------------------------------


def test_a_tiled_job_runs_block_by_block_and_equals_the_engines_segment_blocks(owner, slide, default_model, pools,
                                                                               monkeypatch):
    events = []
    monkeypatch.setattr(job_run, "PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.setattr(job_run, "job_event_send_on_commit", lambda **event: events.append(event))

    job = run_job(owner, slide)

    assert job.status == "succeeded", job.error
    item = JobItem.objects.get(job=job)
    assert item.tiled["n_blocks"] == 4 and item.diameter == 24.0
    blocks = JobBlock.objects.filter(item=item)
    assert sorted(blocks.values_list("index", flat=True)) == [0, 1, 2, 3]
    assert set(blocks.values_list("status", flat=True)) == {"succeeded"}
    annotation = slide.annotations.get()
    assert annotation.labels_key and not annotation.masks and annotation.job_id == job.pk
    stitched = slides.open_labels(slide, key=annotation.labels_key)[...]
    expected = np.zeros((256, 256), np.uint32)
    options = tiled_jobs.tiled_options(slide, job.params)
    channels = options.pop("channels")
    n = segment_blocks(default_model_engine(default_model), slides.open_level(slide), expected, block_size=128,
                       overlap=32, diameter=24.0, channels=channels, **options)
    assert n > 10 and annotation.n_masks == n
    np.testing.assert_array_equal(stitched, expected)
    top = len(slides.level_shapes(slide)) - 1  # the label pyramid has the image's levels
    assert slides.open_labels(slide, key=annotation.labels_key, level=top).shape == slides.level_shapes(slide)[top][:2]
    # progress: the share of blocks done, as events, rising to 1
    progress = [e["progress"] for e in events if e["status"] == "running"]
    block_stages = [e for e in events if e["stage"] == "blocks"]
    assert progress == sorted(progress) and len(block_stages) >= 2
    assert events[-1]["status"] == "succeeded" and events[-1]["progress"] == 1.0


def default_model_engine(model_version):
    from inference.loading import model_load

    return model_load(model_version)


def test_a_diameter_left_to_the_model_is_estimated_once_and_kept_on_the_item(owner, slide, default_model, pools):
    job = run_job(owner, slide, options={"augment": False})

    assert job.status == "succeeded", job.error
    item = JobItem.objects.get(job=job)
    assert item.tiled["diameter_source"] == "estimated" and 5 < item.diameter < 80
    assert slide.annotations.get().summary["diameter"] == item.diameter


def test_cancelling_a_tiled_job_stops_the_blocks_not_yet_run(owner, tmp_path, model_version, pools, settings):
    settings.TILED_BLOCK_SIZE, settings.TILED_BLOCK_OVERLAP = 32, 8
    image = tiled_image(owner, tifffile.imread(DATA / "img2d.tif")[:256, :256], tmp_path)
    job = segmentation_job_create(owner=owner, images=[image], options=OPTIONS)
    wait_until(lambda: JobBlock.objects.filter(item__job=job, status="succeeded").exists())

    jobs.segmentation_job_cancel(job=job)
    wait_until(finished(job.pk))
    wait_until(lambda: all(p.is_idle() for p in pools))

    assert SegmentationJob.objects.get(pk=job.pk).status == "cancelled"
    statuses = list(JobBlock.objects.filter(item__job=job).values_list("status", flat=True))
    assert len(statuses) == 64 and statuses.count("cancelled") > 0 and set(statuses) <= {"succeeded", "cancelled"}
    assert not image.annotations.exists()
    time.sleep(0.5)  # nothing runs after the cancel
    assert list(JobBlock.objects.filter(item__job=job).values_list("status", flat=True)) == statuses


def test_a_block_left_running_by_a_killed_worker_is_redone_after_recovery(owner, slide, model_version, pools,
                                                                         monkeypatch):
    dispatch = tiled_jobs._blocks_dispatch

    def kill_a_worker_first(item):  # a worker took block 0 an hour ago and died
        JobBlock.objects.filter(item=item, index=0).update(
            status="running", worker="gone@host", attempts=1, started_at=timezone.now() - timedelta(hours=1),
            heartbeat_at=timezone.now() - timedelta(hours=1))
        dispatch(item)

    monkeypatch.setattr(tiled_jobs, "_blocks_dispatch", kill_a_worker_first)
    job = segmentation_job_create(owner=owner, images=[slide], options=OPTIONS)
    wait_until(lambda: JobBlock.objects.filter(item__job=job, status="succeeded").count() == 3)
    assert JobBlock.objects.get(item__job=job, index=0).status == "running"  # the job waits for it

    result = work.pool(SEGMENTATION_BLOCK.name).watch_once()  # the watchdog's round: the recovery sweep

    block = JobBlock.objects.get(item__job=job, index=0)
    assert block.pk in result["requeued"]
    wait_until(finished(job.pk))
    assert SegmentationJob.objects.get(pk=job.pk).status == "succeeded"
    block.refresh_from_db()
    assert block.status == "succeeded" and block.attempts == 2 and block.worker != "gone@host"


def test_the_jobs_own_worker_redoes_a_dead_workers_block_when_no_sweep_runs_elsewhere(owner, slide, model_version,
                                                                                     settings, monkeypatch):
    settings.JOB_RUNNER = "off"  # no pool, no watchdog: only the job's worker
    settings.JOB_RECOVER_INTERVAL_S = 0.1
    dispatch = tiled_jobs._blocks_dispatch

    def kill_a_worker_first(item):
        JobBlock.objects.filter(item=item, index=2).update(
            status="running", worker="gone@host", attempts=1, started_at=timezone.now() - timedelta(hours=1),
            heartbeat_at=timezone.now() - timedelta(hours=1))
        dispatch(item)

    monkeypatch.setattr(tiled_jobs, "_blocks_dispatch", kill_a_worker_first)
    job = segmentation_job_create(owner=owner, images=[slide], options=OPTIONS)

    job_run.segmentation_job_run(job_id=job.pk, worker="only@host")

    assert SegmentationJob.objects.get(pk=job.pk).status == "succeeded"
    block = JobBlock.objects.get(item__job=job, index=2)
    assert block.status == "succeeded" and block.attempts == 2 and block.worker == "only@host"


def test_a_block_that_fails_fails_its_image_with_the_reason(owner, slide, model_version, pools, monkeypatch):
    def broken(block):
        if block.index == 2:
            raise ValueError("the pixels of this block are unreadable")
        return np.zeros(tiled_jobs._plan(block.item)[block.index].shape, np.uint32)

    monkeypatch.setattr(tiled_jobs, "_block_segment", broken)

    job = run_job(owner, slide)

    assert job.status == "failed"
    item = JobItem.objects.get(job=job)
    assert item.status == "failed" and "block 3 of 4 failed: the pixels of this block are unreadable" in item.error
    assert not JobBlock.objects.filter(item=item, status__in=("queued", "running")).exists()


def test_block_files_are_deleted_once_the_image_is_saved(owner, slide, model_version, pools, settings):
    job = run_job(owner, slide)

    assert job.status == "succeeded", job.error
    assert not list((Path(settings.MEDIA_ROOT) / "results" / "blocks").glob("*.npz"))
    assert JobBlock.objects.filter(item__job=job).exclude(labels="").count() == 4  # (names kept for the record)


@pytest.fixture
def large_slide(owner, tmp_path):
    """1024² of real nuclei: blocks of 128 + 32 read a context of 438² at diameter 24."""
    return tiled_image(owner, np.tile(tifffile.imread(DATA / "img2d.tif")[:512, :512], (2, 2)), tmp_path)


def test_a_tiled_job_is_checked_against_the_cost_limits_of_one_block_not_the_image(owner, large_slide,
                                                                                   model_version, settings):
    settings.SEGMENT_MAX_PIXELS = 700 * 700  # the image (1024²) is over it, a block's context is not

    job = segmentation_job_create(owner=owner, images=[large_slide], options=OPTIONS)

    assert job.status == "queued"


def test_the_cost_check_counts_the_whole_tiles_a_block_reads_beyond_its_padded_region(owner, large_slide,
                                                                                        model_version, settings):
    # A padded block is 192², but on the image's network lattice it reads 438² (whole tiles).
    settings.SEGMENT_MAX_PIXELS = 300 * 300

    with pytest.raises(ApplicationError, match="diameter: slide.tif"):
        segmentation_job_create(owner=owner, images=[large_slide], options=OPTIONS)


# -- exports ------------------------------------------------------------------------------------


@pytest.fixture
def segmented_slide(owner, slide, default_model, pools):
    job = run_job(owner, slide)
    assert job.status == "succeeded", job.error
    return slide


def download(api, image, fmt):
    response = api.get(f"/api/images/{image.pk}/masks/", {"format": fmt})
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content), response


def test_the_geojson_export_streams_valid_polygons_that_fill_back_to_each_cell(api, segmented_slide):
    body, response = download(api, segmented_slide, "geojson")

    assert response["Content-Type"] == "application/geo+json"
    assert 'filename="slide_v1_masks.geojson"' in response["Content-Disposition"]
    doc = json.loads(body)
    annotation = segmented_slide.annotations.get()
    labels = slides.open_labels(segmented_slide, key=annotation.labels_key)[...]
    assert doc["type"] == "FeatureCollection"
    assert sorted(f["properties"]["label"] for f in doc["features"]) == sorted(np.unique(labels[labels > 0]).tolist())
    for feature in doc["features"]:
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid, shapely.is_valid_reason(geometry)
        assert geometry.area == (labels == feature["properties"]["label"]).sum()


def test_the_geojson_of_cells_that_span_chunks_equals_the_whole_image_export(api, segmented_slide, monkeypatch):
    from inference.engine.polygons import save_geojson

    annotation = segmented_slide.annotations.get()
    labels = slides.open_labels(segmented_slide, key=annotation.labels_key)[...]
    real_open = slides.open_labels

    class SmallChunks:  # the same labels read through 64-pixel chunks, so many cells span chunks
        def __init__(self, array):
            self.array, self.ndim, self.shape, self.chunks = array, array.ndim, array.shape, (64, 64)

        def __getitem__(self, index):
            return self.array[index]

    monkeypatch.setattr(slides, "open_labels", lambda image, *, key, level=0: SmallChunks(real_open(image, key=key)))
    body, _ = download(api, segmented_slide, "geojson")
    buf = io.BytesIO()
    save_geojson(buf, labels)

    by_label = {f["properties"]["label"]: f for f in json.loads(body)["features"]}
    assert by_label == {f["properties"]["label"]: f for f in json.loads(buf.getvalue())["features"]}


def test_the_csv_export_has_one_row_per_cell_from_the_cell_table(api, segmented_slide):
    body, response = download(api, segmented_slide, "csv")

    rows = list(csv.DictReader(io.StringIO(body.decode())))
    annotation = segmented_slide.annotations.get()
    labels = slides.open_labels(segmented_slide, key=annotation.labels_key)[...]
    assert len(rows) == annotation.n_masks == len(np.unique(labels)) - 1
    first = rows[0]
    ys, xs = np.nonzero(labels == int(first["label"]))
    assert int(first["area"]) == ys.size
    assert (int(first["bbox_y0"]), int(first["bbox_x0"]), int(first["bbox_y1"]), int(first["bbox_x1"])) == (
        ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
    assert float(first["centroid_y"]) == pytest.approx(ys.mean(), abs=1e-3)
    assert first["origin"] == "model" and int(first["job"]) == annotation.job_id


def test_the_zarr_export_is_a_zip_of_the_ome_zarr_labels_group(api, segmented_slide, tmp_path):
    body, response = download(api, segmented_slide, "zarr")

    path = tmp_path / "labels.zip"
    path.write_bytes(body)
    annotation = segmented_slide.annotations.get()
    with zipfile.ZipFile(path) as zf:
        assert "slide_v1_labels.zarr/.zattrs" in zf.namelist()
    store = zarr.storage.ZipStore(str(path), mode="r")
    group = zarr.open_group(store, path="slide_v1_labels.zarr", mode="r")
    assert "image-label" in group.attrs and "multiscales" in group.attrs
    np.testing.assert_array_equal(group["0"][...], slides.open_labels(segmented_slide, key=annotation.labels_key)[...])
    store.close()


@pytest.mark.parametrize("fmt", ["png", "tif", "npy", "roi", "coco"])
def test_small_image_formats_are_refused_with_the_formats_that_work(api, segmented_slide, fmt):
    response = api.get(f"/api/images/{segmented_slide.pk}/masks/", {"format": fmt})

    assert response.status_code == 400
    assert "large tiled image" in response.json()["detail"] and "geojson, csv, zarr" in response.json()["detail"]


def test_the_annotation_of_a_tiled_image_says_where_its_label_tiles_are(api, segmented_slide):
    body = api.get(f"/api/images/{segmented_slide.pk}/annotation/").json()

    key = segmented_slide.annotations.get().labels_key
    assert body["version"] == 1 and body["masks"] is None and body["labels_key"] == key
    assert body["labels"]["tiles"] == f"/api/images/{segmented_slide.pk}/labels/{key}/tiles/{{level}}/{{z}}/{{col}}/{{row}}.bin"
    assert api.get(body["labels"]["downloads"]["csv"]).status_code == 200
    assert body["recipe"]["diameter"] == 24.0
    versions = api.get(f"/api/images/{segmented_slide.pk}/annotation/versions/").json()
    assert versions["results"][0]["labels_key"] == key


def test_saving_or_importing_whole_masks_on_a_tiled_image_is_refused_before_reading_them(api, segmented_slide):
    from annotations.encoding import encode_labels
    from tests.web.conftest import tiff_bytes, upload

    saved = api.put(f"/api/images/{segmented_slide.pk}/annotation/",
                    {"version": 1, "masks": encode_labels(np.zeros((256, 256), np.int32))}, format="json")
    imported = api.post(f"/api/images/{segmented_slide.pk}/annotation/import/",
                        {"file": upload("labels.tif", tiff_bytes(np.ones((256, 256), np.uint16)))}, format="multipart")

    for response in (saved, imported):
        assert response.status_code == 400 and "large tiled image" in response.json()["detail"]
    assert segmented_slide.annotations.count() == 1


def test_zarr_is_refused_for_a_small_image(api, segmented_image):
    response = api.get(f"/api/images/{segmented_image.pk}/masks/", {"format": "zarr"})

    assert response.status_code == 400 and "for large tiled images" in response.json()["detail"]


def test_the_exports_are_private(segmented_slide, other_user):
    from tests.web.conftest import client_for

    assert client_for(other_user).get(f"/api/images/{segmented_slide.pk}/masks/", {"format": "csv"}).status_code == 404




# -- label tiles --------------------------------------------------------------------------------


def test_a_label_tile_is_the_labels_as_zlib_int32_with_its_size_and_cache_headers(api, segmented_slide):
    import zlib

    key = segmented_slide.annotations.get().labels_key
    url = f"/api/images/{segmented_slide.pk}/labels/{key}/tiles/0/0/0/0.bin"

    response = api.get(url)

    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    assert (response["X-Tile-Width"], response["X-Tile-Height"]) == ("256", "256")
    assert response["Cache-Control"] == "private, max-age=86400, immutable"
    tile = np.frombuffer(zlib.decompress(response.content), "<i4").reshape(256, 256)
    np.testing.assert_array_equal(tile, slides.open_labels(segmented_slide, key=key)[...])
    assert api.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_label_tiles_outside_the_grid_of_unknown_labels_or_of_others_are_404(api, segmented_slide, other_user):
    from tests.web.conftest import client_for

    key = segmented_slide.annotations.get().labels_key
    base = f"/api/images/{segmented_slide.pk}/labels"
    assert api.get(f"{base}/{key}/tiles/0/0/1/0.bin").status_code == 404
    assert api.get(f"{base}/{key}/tiles/5/0/0/0.bin").status_code == 404
    assert api.get(f"{base}/nothing/tiles/0/0/0/0.bin").status_code == 404
    assert client_for(other_user).get(f"{base}/{key}/tiles/0/0/0/0.bin").status_code == 404


# -- 3D -----------------------------------------------------------------------------------------


def test_a_tiled_stack_is_segmented_in_3d_blocks_equal_to_segment_blocks_and_exported_per_plane(
        api, owner, tmp_path, default_model, pools, settings):
    settings.TILED_BLOCK_SIZE_3D, settings.TILED_BLOCK_OVERLAP_3D = 32, 8
    stack = tifffile.imread(DATA / "img3d.tif")  # (31, 61, 57) nuclei
    image = tiled_image(owner, stack, tmp_path, name="stack.tif")
    assert image.is_3d

    job = run_job(owner, image, options={"diameter": 15, "augment": False})

    assert job.status == "succeeded", job.error
    item = JobItem.objects.get(job=job)
    assert item.tiled["n_blocks"] == 1 * 2 * 2
    annotation = image.annotations.get()
    stitched = slides.open_labels(image, key=annotation.labels_key)[...]
    expected = np.zeros(stitched.shape, np.uint32)
    options = tiled_jobs.tiled_options(image, job.params)
    channels = options.pop("channels")
    n = segment_blocks(default_model_engine(default_model), slides.open_level(image), expected, block_size=32,
                       overlap=8, diameter=15.0, channels=channels, **options)
    assert n > 5 and annotation.n_masks == n
    np.testing.assert_array_equal(stitched, expected)
    assert JobItem.objects.get(job=job).n_masks == n
    features = json.loads(download(api, image, "geojson")[0])["features"]
    per_plane = sorted((int(z), int(label)) for z in range(stitched.shape[0]) for label in np.unique(stitched[z]) if label)
    assert sorted((f["properties"]["z"], f["properties"]["label"]) for f in features) == per_plane
    for feature in features:
        cell = stitched[feature["properties"]["z"]] == feature["properties"]["label"]
        assert shapely.geometry.shape(feature["geometry"]).area == cell.sum()
    rows = list(csv.DictReader(io.StringIO(download(api, image, "csv")[0].decode())))
    assert len(rows) == n and {"bbox_z0", "bbox_z1", "centroid_z"} <= set(rows[0])


def test_the_job_detail_says_how_many_blocks_of_a_tiled_image_are_done(api, segmented_slide):
    job = segmented_slide.annotations.get().job

    (item,) = api.get(f"/api/jobs/{job.pk}/").json()["images"]

    assert item["blocks"] == {"total": 4, "done": 4} and item["status"] == "succeeded" and item["n_masks"] > 10


def test_the_job_zip_points_to_the_streaming_exports_of_a_tiled_image(api, segmented_slide):
    job = segmented_slide.annotations.get().job

    response = api.get(f"/api/jobs/{job.pk}/download.zip")

    assert response.status_code == 400
    assert f"/api/images/{segmented_slide.pk}/masks/?format=geojson" in response.json()["detail"]
