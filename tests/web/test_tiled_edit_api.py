"""GET/PUT /api/images/<id>/annotation/region/ and GET /api/images/<id>/region.png: the region
editor's API for tiled images."""
import io
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations import label_chain
from annotations.encoding import decode_labels, encode_labels
from annotations.tiled_masks import cell_table_load
from tests.web.conftest import client_for
from tests.web.tiled_versions import square_cells, table_of, tiled_with_version

pytestmark = pytest.mark.django_db
URL = "/api/images/{}/annotation/region/"


@pytest.fixture
def slide(owner, tmp_path):
    labels = square_cells()
    image, version = tiled_with_version(owner, tmp_path, labels)
    return image, labels


def get_region(api, image, **region):
    response = api.get(URL.format(image.pk), region)
    assert response.status_code == 200, response.content
    body = response.json()
    return body, decode_labels(body["masks"], expected_shape=(region["height"], region["width"]))


def put_region(api, image, labels, *, version, **region):
    return api.put(URL.format(image.pk), {**region, "version": version, "masks": encode_labels(labels)},
                   format="json")


def full_labels(image, version):
    annotation = image.annotations.get(version=version)
    return np.asarray(label_chain.labels_for_version(annotation)[...])


def test_a_region_reads_the_labels_of_the_latest_version(api, slide):
    image, labels = slide
    body, region = get_region(api, image, x=490, y=480, width=100, height=70)
    assert body["version"] == 1 and body["region"] == {"x": 490, "y": 480, "width": 100, "height": 70, "z": 0}
    np.testing.assert_array_equal(region, labels[480:550, 490:590])


def test_an_edited_region_saves_a_new_version_that_the_label_tiles_show(api, slide):
    image, labels = slide
    body, region = get_region(api, image, x=600, y=600, width=64, height=64)
    region[:] = 0
    response = put_region(api, image, region, version=body["version"], x=600, y=600, width=64, height=64)
    assert response.status_code == 201, response.content
    saved = response.json()
    assert saved["version"] == 2 and saved["source"] == "manual" and saved["labels"]["key"] == saved["labels_key"]
    tile = api.get(saved["labels"]["tiles"].format(level=0, z=0, col=1, row=1))
    shown = np.frombuffer(zlib.decompress(b"".join(tile) if hasattr(tile, "streaming_content") else tile.content),
                          "<i4").reshape(int(tile["X-Tile-Height"]), int(tile["X-Tile-Width"]))
    assert not shown[600 - 512:664 - 512, 600 - 512:664 - 512].any()
    np.testing.assert_array_equal(shown[200:, 200:], labels[712:1024, 712:1024])


def test_a_save_from_a_version_that_is_no_longer_the_latest_is_a_409(api, slide):
    image, labels = slide
    region = dict(x=0, y=0, width=50, height=50)
    assert put_region(api, image, np.zeros((50, 50), np.int32), version=1, **region).status_code == 201
    response = put_region(api, image, np.ones((50, 50), np.int32), version=1, **region)
    assert response.status_code == 409
    assert response.json()["current_version"] == 2 and image.annotations.count() == 2


def test_a_region_larger_than_the_limit_is_a_400_that_names_the_limit(api, slide, settings):
    image, labels = slide
    settings.TILED_EDIT_MAX_SIDE = 256
    response = api.get(URL.format(image.pk), {"x": 0, "y": 0, "width": 300, "height": 100})
    assert response.status_code == 400 and "at most 256 pixels" in response.json()["detail"]
    response = put_region(api, image, np.zeros((100, 300), np.int32), version=1, x=0, y=0, width=300, height=100)
    assert response.status_code == 400 and "TILED_EDIT_MAX_SIDE" in response.json()["detail"]
    assert image.annotations.count() == 1


def test_a_region_outside_the_image_is_a_400(api, slide):
    image, labels = slide
    response = api.get(URL.format(image.pk), {"x": 1000, "y": 0, "width": 200, "height": 10})
    assert response.status_code == 400 and "outside the image" in response.json()["detail"]


def test_labels_of_the_wrong_shape_are_a_400(api, slide):
    image, labels = slide
    response = put_region(api, image, np.zeros((10, 10), np.int32), version=1, x=0, y=0, width=20, height=20)
    assert response.status_code == 400 and "masks.shape" in response.json()["detail"]


def test_cells_split_and_merged_at_the_region_border_keep_ids_unique_across_the_image(api, slide):
    image, labels = slide
    top = int(labels.max())
    region = dict(x=510, y=490, width=40, height=40)  # cuts the cells at x 500..524 and 540..564
    body, read = get_region(api, image, **region)
    left, right = int(read[0, 0]), int(read[0, 35])
    assert left and right and left != right
    edited = read.copy()
    edited[edited == right] = left  # merge: the right cell's inside part joins the left one
    edited[10:20, 0:14] = 1  # split: part of the left cell gets an id the client made up (cell 1 lives elsewhere)
    assert put_region(api, image, edited, version=body["version"], **region).status_code == 201
    after = full_labels(image, 2)
    table = cell_table_load(image.annotations.get(version=2))
    expected = table_of(after)
    np.testing.assert_array_equal(table["label"], expected["label"])
    np.testing.assert_array_equal(table["bbox"], expected["bbox"])
    # the split part is a new cell above the image-wide max; cell 1 elsewhere is untouched
    assert (after[500:510, 510:524] == top + 1).all() and (after == top + 1).sum() == 140
    np.testing.assert_array_equal(after == 1, labels == 1)
    # the right cell keeps its id outside the region; its inside part now carries the left cell's
    assert (after[490:504, 550:564] == right).all() and (after[490:504, 540:550] == left).all()


def test_another_users_tiled_image_is_a_404(slide, other_user):
    image, labels = slide
    response = client_for(other_user).get(URL.format(image.pk), {"x": 0, "y": 0, "width": 10, "height": 10})
    assert response.status_code == 404


def test_the_region_picture_is_the_full_resolution_crop(api, slide):
    image, labels = slide
    response = api.get(f"/api/images/{image.pk}/region.png", {"x": 500, "y": 20, "width": 30, "height": 10})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert PILImage.open(io.BytesIO(response.content)).size == (30, 10)


def test_the_pyramid_lists_an_edited_version_and_names_the_latest(api, slide):
    image, labels = slide
    saved = put_region(api, image, np.zeros((8, 8), np.int32), version=1, x=0, y=0, width=8, height=8).json()
    info = api.get(f"/api/images/{image.pk}/pyramid/").json()
    assert info["labels"] == ["seg", saved["labels_key"]] and info["latest_labels"] == saved["labels_key"]


def test_the_region_page_opens_for_the_owner_only(client, slide, owner, other_user):
    image, labels = slide
    client.force_login(owner)
    assert client.get(f"/images/{image.pk}/region/?x=0&y=0&width=10&height=10").status_code == 200
    client.force_login(other_user)
    assert client.get(f"/images/{image.pk}/region/").status_code == 404


def test_a_region_whose_body_is_larger_than_djangos_form_cap_is_saved(api, slide, settings):
    image, labels = slide
    noisy = np.random.default_rng(1).integers(1, 2**31 - 1, (1024, 1024), dtype=np.int64).astype(np.int32)
    response = put_region(api, image, noisy, version=1, x=0, y=0, width=1024, height=1024)
    assert int(response.request["CONTENT_LENGTH"]) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert response.status_code == 201, response.content[:300]
    assert image.annotations.get(version=2).summary["region"]["width"] == 1024
