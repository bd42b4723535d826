"""Listing, reading, displaying and deleting images."""
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from annotations.models import Annotation, Image
from inference.models import JobItem, SegmentationJob
from annotations.display import to_zcyx
from tests.web.conftest import DATA, client_for, data_file, tiff_bytes, upload

pytestmark = pytest.mark.django_db


def png(response) -> np.ndarray:
    assert response["Content-Type"] == "image/png"
    return np.asarray(PILImage.open(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)))


def test_the_list_shows_only_my_images_newest_first(api, make_image, other_user):
    first = make_image(name="a.tif")
    second = make_image(name="b.tif")
    make_image(name="theirs.tif", user=other_user)

    body = api.get("/api/images/").json()

    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second.pk, first.pk]


def test_the_list_can_be_searched_by_name(api, make_image):
    make_image(name="nuclei_day1.tif")
    make_image(name="membrane.tif")

    body = api.get("/api/images/", {"search": "NUCLEI"}).json()

    assert [row["name"] for row in body["results"]] == ["nuclei_day1.tif"]


def test_the_list_is_paginated(api, make_image):
    for i in range(3):
        make_image(name=f"{i}.tif")

    page1 = api.get("/api/images/", {"page_size": 2}).json()
    page2 = api.get("/api/images/", {"page_size": 2, "page": 2}).json()

    assert page1["count"] == 3 and len(page1["results"]) == 2 and page1["next"]
    assert len(page2["results"]) == 1
    assert api.get("/api/images/", {"page": 9}).status_code == 404


def test_the_detail_reports_the_latest_annotation(api, segmented_image):
    body = api.get(f"/api/images/{segmented_image.pk}/").json()

    assert body["id"] == segmented_image.pk
    assert body["latest_version"] == 1
    assert body["n_masks"] == int(segmented_image.true_masks.max())
    assert body["thumbnail_url"] == f"/api/images/{segmented_image.pk}/thumbnail/"


def test_an_unknown_image_is_404_with_a_message(api):
    response = api.get("/api/images/999999/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Image 999999 not found."}


def test_the_thumbnail_is_a_png(api, image):
    picture = png(api.get(f"/api/images/{image.pk}/thumbnail/"))

    assert picture.shape[:2] == (64, 64)


def test_display_data_of_a_2d_image_is_a_grey_png_of_its_size(api, image):
    picture = png(api.get(f"/api/images/{image.pk}/data/"))

    assert picture.shape == (64, 64) and picture.dtype == np.uint8
    assert picture.min() == 0 and picture.max() == 255


def test_display_data_of_a_stack_is_one_plane(api):
    body = api.post("/api/images/", {"file": data_file("img3d.tif")}, format="multipart").json()

    middle = png(api.get(f"/api/images/{body['id']}/data/"))
    first = png(api.get(f"/api/images/{body['id']}/data/", {"plane": 0}))

    assert middle.shape == first.shape == (61, 57)
    assert not np.array_equal(middle, first)
    response = api.get(f"/api/images/{body['id']}/data/", {"plane": 31})
    assert response.status_code == 400 and "plane" in response.json()["detail"]


def test_display_data_of_a_colour_image_is_rgb_or_one_channel(api):
    body = api.post("/api/images/", {"file": data_file("histo.jpg")}, format="multipart").json()

    rgb = png(api.get(f"/api/images/{body['id']}/data/"))
    red = png(api.get(f"/api/images/{body['id']}/data/", {"channel": 0}))

    assert rgb.shape == (*body["shape"][:2], 3)
    assert red.shape == tuple(body["shape"][:2])
    assert api.get(f"/api/images/{body['id']}/data/", {"channel": 3}).status_code == 400


def test_deleting_an_image_removes_its_rows_and_files(api, segmented_image, settings, django_capture_on_commit_callbacks):
    media = Path(settings.MEDIA_ROOT)
    assert any(media.rglob("*.npz"))

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/images/{segmented_image.pk}/")

    assert response.status_code == 204
    assert not Image.objects.exists() and not Annotation.objects.exists() and not JobItem.objects.exists()
    assert SegmentationJob.objects.filter(pk=segmented_image.job.pk).exists()
    assert [p for p in media.rglob("*") if p.is_file() and "models" not in p.parts] == []


def test_an_image_being_segmented_cannot_be_deleted(api, image, model_version):
    response = api.post(f"/api/images/{image.pk}/segment/", {}, format="json")
    assert response.status_code == 202

    response = api.delete(f"/api/images/{image.pk}/")

    assert response.status_code == 409
    assert "being segmented" in response.json()["detail"]
    assert Image.objects.filter(pk=image.pk).exists()


def test_another_users_image_is_404_for_every_method(image, other_user):
    client = client_for(other_user)

    assert client.get(f"/api/images/{image.pk}/").status_code == 404
    assert client.delete(f"/api/images/{image.pk}/").status_code == 404
    assert Image.objects.filter(pk=image.pk).exists()


def test_an_anonymous_request_is_401(image):
    response = client_for(None).get("/api/images/")

    assert response.status_code == 401
    assert "credentials" in response.json()["detail"]


def test_a_token_authenticates_api_requests(owner, image):
    token = client_for(None).post("/api/auth/token/", {"username": "olivia", "password": "a-long-test-password-42"}, format="json")
    assert token.status_code == 200

    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")

    assert client.get("/api/images/").json()["count"] == 1


def test_float_images_with_some_nan_are_refused_naming_how_many(api):
    array = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    array[:4, :4] = np.nan
    from tests.web.conftest import upload

    response = api.post("/api/images/", {"file": upload("f.tif", tiff_bytes(array))}, format="multipart")

    assert response.status_code == 400
    assert "16 pixel value(s) are NaN or infinite" in response.json()["detail"]

def channel_values(response) -> np.ndarray:
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    shape = tuple(int(n) for n in response["X-Array-Shape"].split(","))
    dtype = np.dtype(response["X-Array-Dtype"]).newbyteorder("<")
    return np.frombuffer(response.content, dtype=dtype).reshape(shape)


def test_channel_values_of_a_2d_image_are_its_stored_pixels_in_their_type(api, image):
    response = api.get(f"/api/images/{image.pk}/channels/")
    values = channel_values(response)

    stored = tifffile.imread(io.BytesIO(image.file.open("rb").read()))
    assert response["X-Array-Dtype"] == "uint16" and len(response.content) == 2 * 64 * 64
    assert values.shape == (1, 64, 64)
    np.testing.assert_array_equal(values[0], stored)


def test_channel_values_of_other_types_come_as_float32(api):
    stored = np.arange(48, dtype=np.int32).reshape(6, 8) * 1000
    body = api.post("/api/images/", {"file": upload("f.tif", tiff_bytes(stored))}, format="multipart").json()

    response = api.get(f"/api/images/{body['id']}/channels/")
    values = channel_values(response)

    assert response["X-Array-Dtype"] == "float32"
    np.testing.assert_array_equal(values[0], stored.astype(np.float32))


def test_channel_values_of_a_colour_image_are_every_channel_first(api):
    body = api.post("/api/images/", {"file": data_file("histo.jpg")}, format="multipart").json()

    values = channel_values(api.get(f"/api/images/{body['id']}/channels/"))
    source = np.asarray(PILImage.open(DATA / "histo.jpg"))

    assert values.shape == (3, *source.shape[:2])
    np.testing.assert_array_equal(values[1], source[..., 1])


def test_channel_values_of_a_stack_are_one_plane_and_a_bad_plane_is_400(api):
    body = api.post("/api/images/", {"file": data_file("img3d.tif")}, format="multipart").json()

    first = channel_values(api.get(f"/api/images/{body['id']}/channels/", {"plane": 0}))
    stored = to_zcyx(tifffile.imread(DATA / "img3d.tif"), Image.objects.get(pk=body["id"]).axes)

    assert first.shape == (1, 61, 57)
    np.testing.assert_array_equal(first, stored[0])
    response = api.get(f"/api/images/{body['id']}/channels/", {"plane": 31})
    assert response.status_code == 400 and "plane" in response.json()["detail"]


def test_channel_values_of_a_plane_above_the_limit_are_refused_naming_it(api, image, settings):
    settings.CHANNEL_VALUES_MAX = 64 * 64 - 1

    response = api.get(f"/api/images/{image.pk}/channels/")

    assert response.status_code == 400
    assert "4,096 channel values" in response.json()["detail"] and "CHANNEL_VALUES_MAX" in response.json()["detail"]
