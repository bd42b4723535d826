"""Importing existing annotations (a _seg.npy, label TIFF, ImageJ ROI zip, GeoJSON) onto an image as
its next mask version, with provenance "imported", and a clear 400 for a file that is not one."""
import io

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile

from annotations.encoding import decode_labels
from inference.engine import export
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def cells():
    masks = np.zeros((64, 64), np.int32)
    masks[5:20, 5:25] = 1
    masks[30:50, 30:45] = 2
    masks[40:60, 2:12] = 3
    return masks


def exported(masks, fmt, tmp_path):
    if fmt == "npy":
        path = tmp_path / "cells_seg.npy"
        export.save_seg_npy(path, image=None, masks=masks, diameter=None, channels=(0, 0), filename="cells.tif")
        return path
    return export.save_masks(tmp_path / "cells", masks, formats=[fmt], filename="cells.tif")[0]


def post(api, image, name, content):
    return api.post(
        f"/api/images/{image.pk}/annotation/import/", {"file": SimpleUploadedFile(name, content)}, format="multipart"
    )


@pytest.mark.parametrize("fmt", ["npy", "tif", "roi", "geojson"])
def test_an_exported_file_imports_as_the_next_version_with_the_same_masks(api, image, tmp_path, fmt):
    path = exported(cells(), fmt, tmp_path)

    response = post(api, image, path.name, path.read_bytes())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1 and body["source"] == "imported" and body["n_masks"] == 3
    assert body["summary"]["imported_from"] == path.name
    current = api.get(f"/api/images/{image.pk}/annotation/").json()
    np.testing.assert_array_equal(decode_labels(current["masks"], expected_shape=(64, 64)), cells())
    assert current["origins"] == ["manual"] * 3
    versions = api.get(f"/api/images/{image.pk}/annotation/versions/").json()
    assert versions["results"][0]["source"] == "imported"


def test_an_import_on_top_of_a_segmentation_keeps_the_origin_of_unchanged_cells(api, segmented_image, tmp_path):
    masks = segmented_image.true_masks.copy()
    masks[masks == 1] = 0
    buf = io.BytesIO()
    tifffile.imwrite(buf, masks.astype(np.uint16))

    response = post(api, segmented_image, "edited.tif", buf.getvalue())

    assert response.status_code == 201
    assert response.json()["version"] == 2 and response.json()["changes"]["removed"] == 1
    assert set(api.get(f"/api/images/{segmented_image.pk}/annotation/").json()["origins"]) == {"model"}


def test_a_file_that_is_no_annotation_is_400_with_the_readers_reason(api, image):
    response = post(api, image, "notes.txt", b"these are not masks")

    assert response.status_code == 400
    assert "notes.txt" in response.json()["detail"]
    assert api.get(f"/api/images/{image.pk}/annotation/").status_code == 404


def test_a_label_image_of_another_size_is_400(api, image):
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ones((32, 32), np.uint16))

    response = post(api, image, "small.tif", buf.getvalue())

    assert response.status_code == 400
    assert "small.tif" in response.json()["detail"] and "64" in response.json()["detail"]


def test_importing_the_latest_masks_again_makes_no_new_version(api, image, tmp_path):
    path = exported(cells(), "tif", tmp_path)
    assert post(api, image, path.name, path.read_bytes()).status_code == 201

    again = post(api, image, path.name, path.read_bytes())

    assert again.status_code == 409
    assert "version 1 already" in again.json()["detail"]


def test_another_users_image_is_404(image, other_user, tmp_path):
    path = exported(cells(), "tif", tmp_path)

    response = post(client_for(other_user), image, path.name, path.read_bytes())

    assert response.status_code == 404
