"""Creating, reading, cancelling and downloading segmentation jobs through the API."""
import io
import re
import zipfile

import pytest

from inference.models import JobItem, ModelVersion, SegmentationJob
from tests.web.conftest import client_for, data_file

pytestmark = pytest.mark.django_db


def segment(api, image, **options):
    return api.post(f"/api/images/{image.pk}/segment/", options, format="json")


def test_segmenting_an_image_queues_a_job_with_the_current_model(api, image, model_version):
    response = segment(api, image, diameter=17, channels=[0, 0])

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["progress"] == 0.0 and body["error"] == ""
    assert body["model_version"] == {"id": model_version.pk, "name": "tiny", "version": 1}
    assert body["params"]["diameter"] == 17 and body["params"]["channels"] == [0, 0]
    assert body["images"] == [
        {"id": image.pk, "name": image.name, "status": "queued", "error": "", "n_masks": None, "diameter": None, "timings": {},
         "blocks": None}
    ]
    assert body["websocket"] == f"/ws/jobs/{body['id']}/"


def test_the_job_starts_once_the_request_commits(api, image, model_version, settings, monkeypatch, django_capture_on_commit_callbacks):
    from cellposeweb import work

    started = []
    monkeypatch.setattr(work, "dispatch", lambda kind, pk: started.append(pk))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job_id = segment(api, image).json()["id"]
    assert started == []
    for callback in callbacks:
        callback()

    assert started == [job_id]


def test_a_diameter_of_zero_means_automatic(api, image, model_version):
    body = segment(api, image, diameter=0).json()

    assert body["params"]["diameter"] is None


@pytest.mark.parametrize(
    "options, field",
    [
        ({"channels": [4, 0]}, "channels"),
        ({"channels": [1]}, "channels"),
        ({"diameter": -3}, "diameter"),
        ({"diameter": "big"}, "diameter"),
        ({"tile_overlap": 0.99}, "tile_overlap"),
        ({"cellprob_threshold": 100}, "cellprob_threshold"),
        ({"flow_threshold": -1}, "flow_threshold"),
        ({"augment": "maybe"}, "augment"),
        ({"anisotropy": 0}, "anisotropy"),
        ({"model_version": 999}, "model_version"),
    ],
)
def test_invalid_options_are_refused_naming_the_field(api, image, model_version, options, field):
    response = segment(api, image, **options)

    assert response.status_code == 400
    assert re.match(rf"{field}(\[\d\])?: ", response.json()["detail"])
    assert field in response.json()["errors"]
    assert not SegmentationJob.objects.exists()


def test_a_non_finite_number_is_refused(api, image, model_version):
    literal = api.post(f"/api/images/{image.pk}/segment/", data='{"diameter": NaN}', content_type="application/json")
    text = segment(api, image, diameter="nan")

    assert literal.status_code == 400 and "NaN" in literal.json()["detail"]
    assert text.status_code == 400 and text.json()["detail"] == "diameter: A valid number is required."


def test_a_channel_the_image_does_not_have_is_refused(api, image, model_version):
    response = segment(api, image, channels=[2, 0])

    assert response.status_code == 400
    assert "has 1 channel" in response.json()["detail"]


def test_3d_segmentation_of_a_2d_image_is_refused(api, image, model_version):
    response = segment(api, image, do_3d=True)

    assert response.status_code == 400
    assert "2D image" in response.json()["detail"]


def test_a_stack_defaults_to_3d_and_can_be_segmented_plane_by_plane(api, model_version):
    stack = api.post("/api/images/", {"file": data_file("img3d.tif")}, format="multipart").json()

    auto = api.post(f"/api/images/{stack['id']}/segment/", {}, format="json")
    flat = api.post(f"/api/images/{stack['id']}/segment/", {"do_3d": False}, format="json")
    bad = api.post(f"/api/images/{stack['id']}/segment/", {"do_3d": False, "stitch_threshold": 0}, format="json")

    assert auto.status_code == 202 and auto.json()["params"]["do_3d"] is None
    assert flat.status_code == 202 and flat.json()["params"]["do_3d"] is False
    assert flat.json()["params"]["stitch_threshold"] == 0.25
    assert bad.status_code == 400 and "stitch_threshold" in str(bad.json())


def test_without_a_current_model_segmentation_is_409(api, image):
    response = segment(api, image)

    assert response.status_code == 409
    assert "No segmentation model" in response.json()["detail"]


def test_a_batch_job_segments_several_images_in_order(api, make_image, model_version):
    images = [make_image(name=f"{i}.tif") for i in range(3)]
    ids = [images[2].pk, images[0].pk, images[2].pk, images[1].pk]

    response = api.post("/api/jobs/", {"images": ids, "augment": False}, format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert [row["id"] for row in body["images"]] == [images[2].pk, images[0].pk, images[1].pk]
    assert body["params"]["augment"] is False


def test_a_batch_with_an_unknown_or_foreign_image_is_404(api, image, make_image, other_user, model_version):
    theirs = make_image(name="theirs.tif", user=other_user)

    response = api.post("/api/jobs/", {"images": [image.pk, theirs.pk, 999]}, format="json")

    assert response.status_code == 404
    assert response.json()["detail"] == f"Image(s) {theirs.pk}, 999 not found."
    assert not SegmentationJob.objects.exists()


def test_an_empty_or_oversized_batch_is_400(api, make_image, model_version, settings):
    settings.JOB_MAX_IMAGES = 2
    images = [make_image(name=f"{i}.tif").pk for i in range(3)]

    empty = api.post("/api/jobs/", {"images": []}, format="json")
    big = api.post("/api/jobs/", {"images": images}, format="json")

    assert empty.status_code == 400 and empty.json()["detail"].startswith("images:")
    assert big.status_code == 400 and "at most 2 images" in big.json()["detail"]


def test_the_job_list_and_detail_show_my_jobs(api, image, model_version, other_user):
    job_id = segment(api, image).json()["id"]

    listing = api.get("/api/jobs/").json()
    detail = api.get(f"/api/jobs/{job_id}/")

    assert [row["id"] for row in listing["results"]] == [job_id]
    assert detail.status_code == 200 and detail.json()["id"] == job_id
    assert client_for(other_user).get(f"/api/jobs/{job_id}/").status_code == 404
    assert client_for(other_user).get("/api/jobs/").json()["count"] == 0


def test_the_job_list_narrows_to_one_images_queued_or_running_jobs(api, image, make_image, model_version):
    other = make_image(name="other.tif")
    first = segment(api, image).json()["id"]
    ended = segment(api, image).json()["id"]
    api.post(f"/api/jobs/{ended}/cancel/")
    elsewhere = segment(api, other).json()["id"]

    def ids(query):
        return [row["id"] for row in api.get(f"/api/jobs/?{query}").json()["results"]]

    assert ids(f"image={image.pk}") == [ended, first]
    assert ids(f"image={image.pk}&active=true") == [first]
    assert ids(f"image={other.pk}&active=true") == [elsewhere]
    assert api.get("/api/jobs/?image=x").status_code == 400


def test_cancelling_a_queued_job_cancels_it_and_its_images(api, image, model_version):
    job_id = segment(api, image).json()["id"]

    response = api.post(f"/api/jobs/{job_id}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"]
    assert JobItem.objects.get(job_id=job_id).status == "cancelled"


def test_cancelling_a_finished_job_is_409(api, segmented_image):
    response = api.post(f"/api/jobs/{segmented_image.job.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["detail"] == f"Job {segmented_image.job.pk} has already succeeded; only queued or running jobs can be cancelled."


def test_a_cancelled_job_never_runs(api, image, model_version):
    from inference.job_run import segmentation_job_run

    job_id = segment(api, image).json()["id"]
    api.post(f"/api/jobs/{job_id}/cancel/")

    assert segmentation_job_run(job_id=job_id) is None
    assert SegmentationJob.objects.get(pk=job_id).status == "cancelled"


def test_the_batch_download_zips_the_current_masks_of_each_image(api, segmented_image):
    response = api.get(f"/api/jobs/{segmented_image.job.pk}/download.zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="job-{segmented_image.job.pk}-masks.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == ["synthetic_cells_v1_masks.png"]
    tif = api.get(f"/api/jobs/{segmented_image.job.pk}/download.zip", {"format": "tif"})
    assert zipfile.ZipFile(io.BytesIO(b"".join(tif.streaming_content))).namelist() == ["synthetic_cells_v1_masks.tif"]


def test_the_download_of_a_job_without_results_is_409(api, image, model_version):
    job_id = segment(api, image).json()["id"]

    response = api.get(f"/api/jobs/{job_id}/download.zip")

    assert response.status_code == 409
    assert "no segmented images" in response.json()["detail"]


def test_job_creation_is_rate_limited_per_user(api, image, model_version, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "jobs": "2/minute"}

    statuses = [segment(api, image).status_code for _ in range(3)]
    batch = api.post("/api/jobs/", {"images": [image.pk]}, format="json")

    assert statuses == [202, 202, 429]
    assert batch.status_code == 429
    assert "throttled" in batch.json()["detail"]


def test_the_model_list_shows_the_current_model(api, model_version):
    body = api.get("/api/models/").json()

    assert [(row["name"], row["version"], row["is_current"]) for row in body] == [("tiny", 1, True)]


def test_only_one_model_version_can_be_current(model_version, tiny_model_path):
    from django.db import IntegrityError, transaction

    from inference.model_versions import model_version_create

    second = model_version_create(name="tiny", file_path=tiny_model_path, make_current=True)

    assert second.version == 2
    assert list(ModelVersion.objects.filter(is_current=True)) == [second]
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=model_version.pk).update(is_current=True)


def test_the_batch_download_keeps_images_with_the_same_name_apart(api, owner, model_version, make_image):
    from inference.job_run import segmentation_job_run
    from inference.jobs import segmentation_job_create

    images = [make_image(name="same.tif"), make_image(name="same.tif")]
    job = segmentation_job_create(owner=owner, images=images, options={"augment": False, "diameter": 30})
    segmentation_job_run(job_id=job.pk)

    response = api.get(f"/api/jobs/{job.pk}/download.zip")

    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names == ["same_v1_masks.png", f"{images[1].pk}-same_v1_masks.png"]


def test_a_diameter_that_would_upsample_the_image_past_the_limits_is_refused_naming_what_fits(api, image, model_version):
    response = segment(api, image, diameter=0.01)

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "upsamples the image 3000 times (limit 8)" in detail and "at least 3.75 pixels" in detail
    assert SegmentationJob.objects.count() == 0


def test_the_cost_limits_come_from_the_settings(api, image, model_version, settings):
    settings.SEGMENT_MAX_PIXELS = 64 * 64

    assert segment(api, image, diameter=30).status_code == 202
    response = segment(api, image, diameter=20)
    assert response.status_code == 400 and "at least 30 pixels" in response.json()["detail"]


def test_the_image_list_offers_every_mask_format_for_the_batch_zip(owner):
    from django.test import Client

    from cellposeweb.http import MASK_FORMATS

    browser = Client()
    browser.force_login(owner)
    html = browser.get("/").content.decode()
    chooser = re.search(r'<select[^>]*data-role="job-download-format".*?</select>', html, re.S).group(0)

    assert tuple(re.findall(r'<option value="(\w+)"', chooser)) == MASK_FORMATS
