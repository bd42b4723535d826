"""Downloading masks in every format, reading them compactly, and saving edited versions."""
import base64
import io
import json
import zipfile
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from annotations.encoding import decode_labels, encode_labels
from tests.web.conftest import data_file

pytestmark = pytest.mark.django_db


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    "fmt, filename, content_type",
    [
        ("png", "synthetic_cells_v1_masks.png", "image/png"),
        ("tif", "synthetic_cells_v1_masks.tif", "image/tiff"),
        ("npy", "synthetic_cells_v1_seg.npy", "application/octet-stream"),
        ("roi", "synthetic_cells_v1_rois.zip", "application/zip"),
        ("txt", "synthetic_cells_v1_outlines.txt", "text/plain"),
        ("geojson", "synthetic_cells_v1_masks.geojson", "application/geo+json"),
        ("coco", "synthetic_cells_v1_coco.json", "application/json"),
        ("csv", "synthetic_cells_v1_cells.csv", "text/csv"),
    ],
)
def test_masks_download_in_each_format_named_after_the_image(api, segmented_image, fmt, filename, content_type):
    response = api.get(f"/api/images/{segmented_image.pk}/masks/", {"format": fmt})

    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    data = content(response)
    n = int(segmented_image.true_masks.max())
    if fmt == "png":
        np.testing.assert_array_equal(np.asarray(PILImage.open(io.BytesIO(data))), segmented_image.true_masks)
    elif fmt == "tif":
        np.testing.assert_array_equal(tifffile.imread(io.BytesIO(data)), segmented_image.true_masks)
    elif fmt == "npy":
        seg = np.load(io.BytesIO(data), allow_pickle=True).item()
        np.testing.assert_array_equal(seg["masks"], segmented_image.true_masks)
        assert len(seg["flows"]) == 5 and seg["flows"][4].shape == (3, 64, 64)
    elif fmt == "roi":
        assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == n
    elif fmt == "txt":
        assert len(data.decode().splitlines()) == n
    elif fmt == "geojson":
        assert len(json.loads(data)["features"]) == n
    elif fmt == "coco":
        assert len(json.loads(data)["annotations"]) == n
    elif fmt == "csv":
        assert len(data.decode().splitlines()) == n + 1


def test_masks_default_to_png(api, segmented_image):
    response = api.get(f"/api/images/{segmented_image.pk}/masks/")

    assert response["Content-Type"] == "image/png"


def test_an_unknown_mask_format_is_400(api, segmented_image):
    response = api.get(f"/api/images/{segmented_image.pk}/masks/", {"format": "bmp"})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("format:")


def test_masks_of_an_image_never_segmented_are_404(api, image):
    response = api.get(f"/api/images/{image.pk}/masks/")

    assert response.status_code == 404
    assert "no masks yet" in response.json()["detail"]


def test_a_download_name_is_safe_even_for_odd_image_names(api, make_image, owner):
    from annotations.services import annotation_create

    image = make_image(name='weird "name"; évidence.tif')
    annotation_create(image=image, masks=np.zeros((64, 64), np.int32), source="manual", created_by=owner)

    response = api.get(f"/api/images/{image.pk}/masks/", {"format": "tif"})

    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert '"' not in disposition.split("filename=", 1)[1].strip('"')
    assert ";" not in disposition.split("filename=", 1)[1]


def test_the_annotation_comes_compactly_encoded(api, segmented_image):
    body = api.get(f"/api/images/{segmented_image.pk}/annotation/").json()

    assert body["version"] == 1 and body["source"] == "model"
    assert body["n_masks"] == int(segmented_image.true_masks.max())
    masks = body["masks"]
    assert masks["encoding"] == "zlib-base64" and masks["dtype"] == "int32" and masks["shape"] == [64, 64]
    raw = zlib.decompress(base64.b64decode(masks["data"]))
    np.testing.assert_array_equal(np.frombuffer(raw, "<i4").reshape(64, 64), segmented_image.true_masks)
    assert body["ismanual"] == [False] * body["n_masks"]


def test_saving_edited_masks_makes_a_new_manual_version(api, segmented_image):
    masks = segmented_image.true_masks.copy()
    masks[masks == 1] = 0
    masks[:5, :5] = 1000  # a new hand-drawn cell with a large label
    n = len(np.unique(masks)) - 1
    ismanual = [False] * 999 + [True]

    response = api.put(
        f"/api/images/{segmented_image.pk}/annotation/",
        {"version": 1, "masks": encode_labels(masks), "ismanual": ismanual},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2 and response.json()["source"] == "manual"
    body = api.get(f"/api/images/{segmented_image.pk}/annotation/").json()
    saved = decode_labels(body["masks"], expected_shape=(64, 64))
    assert body["n_masks"] == n and saved.max() == n
    assert body["ismanual"][-1] is True and sum(body["ismanual"]) == 1
    assert (saved[:5, :5] == n).all()
    old = api.get(f"/api/images/{segmented_image.pk}/annotation/", {"version": 1}).json()
    assert old["version"] == 1 and old["source"] == "model"


@pytest.mark.parametrize(
    "masks, reason",
    [
        ({"encoding": "zlib-base64", "shape": [32, 32], "data": ""}, "shape"),
        ({"encoding": "zlib-base64", "shape": [64, 64], "data": "%%%"}, "base64"),
        ({"encoding": "zlib-base64", "shape": [64, 64], "data": base64.b64encode(b"not zlib").decode()}, "zlib"),
        (
            {"encoding": "zlib-base64", "shape": [64, 64], "data": base64.b64encode(zlib.compress(b"\0" * 10**7)).decode()},
            "exactly",
        ),
        ("a string", "object"),
    ],
    ids=["wrong shape", "bad base64", "not zlib", "expands too far", "not an object"],
)
def test_malformed_masks_are_refused(api, segmented_image, masks, reason):
    response = api.put(f"/api/images/{segmented_image.pk}/annotation/", {"version": 1, "masks": masks}, format="json")

    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_masks_of_a_stack_download_as_a_tif_stack(api, owner):
    from annotations.models import Image
    from annotations.services import annotation_create

    body = api.post("/api/images/", {"file": data_file("img3d.tif")}, format="multipart").json()
    masks = np.zeros((31, 61, 57), np.int32)
    masks[10:20, 10:30, 10:30] = 1
    annotation_create(image=Image.objects.get(pk=body["id"]), masks=masks, source="manual", created_by=owner)

    default = api.get(f"/api/images/{body['id']}/masks/")
    refused = api.get(f"/api/images/{body['id']}/masks/", {"format": "png"})

    assert default["Content-Type"] == "image/tiff"
    np.testing.assert_array_equal(tifffile.imread(io.BytesIO(content(default))), masks)
    assert refused.status_code == 400 and "3D" in refused.json()["detail"]


def test_the_cellpose_gui_file_keeps_which_cells_were_drawn_by_hand(api, segmented_image):
    masks = segmented_image.true_masks
    ismanual = [False] * int(masks.max())
    ismanual[0] = True
    api.put(
        f"/api/images/{segmented_image.pk}/annotation/",
        {"version": 1, "masks": encode_labels(masks), "ismanual": ismanual},
        format="json",
    )

    response = api.get(f"/api/images/{segmented_image.pk}/masks/", {"format": "npy"})

    seg = np.load(io.BytesIO(content(response)), allow_pickle=True).item()
    assert seg["ismanual"].tolist() == ismanual
    assert seg["filename"] == "synthetic cells.tif"
